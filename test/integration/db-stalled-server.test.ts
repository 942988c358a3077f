import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConnectionError } from 'sequelize';
import { outcomeUnknown } from '../../lib/common/errors';
import { silentLogger } from '../../lib/common/logger';
import { parseMoney as m } from '../../lib/common/money';
import { databaseOptionsFromUrl, openDatabase, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { DEFAULT_CREDIT_CONTROL_OPTIONS, openCreditControl, type CreditControl } from '../../lib/prepaid';
import { startMariaDb, type MariaDbServer } from '../support/mariadb';
import { eventually } from '../support/ops-product';
import { fundedAccount, tenSecondSteps } from '../support/prepaid-fixtures';

/**
 * A server that stalls: mariadbd stopped with SIGSTOP. The kernel still accepts and ACKs what is
 * written to it, so nothing but the statement timeout ends a statement's wait; once resumed, the
 * server runs what it had received, after the statement had failed.
 */
describe('a database server that stalls (stopped, not gone)', function () {
  this.timeout(120_000);
  const TIMEOUT_MS = 1000;
  const tariff = tenSecondSteps();
  let server: MariaDbServer;
  let db: Database;
  let repo: PrepaidRepository;
  let dir: string;
  const credit: CreditControl[] = [];

  /** SIGSTOP is delivered asynchronously: on a busy machine the server may run on a moment, so wait until the kernel shows it stopped (bounded). */
  const stall = async (): Promise<void> => {
    process.kill(server.pid!, 'SIGSTOP');
    const until = Date.now() + 5000;
    const state = () => /\)\s+(\S)/.exec(fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8'))?.[1];
    while (state() !== 'T' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.equal(state(), 'T', 'mariadbd stopped');
  };
  const resume = (): void => { if (server?.pid) process.kill(server.pid, 'SIGCONT'); };

  before(async () => {
    server = await startMariaDb();
    db = await openDatabase({ ...databaseOptionsFromUrl(await server.createDatabase('stall')), statementTimeoutMs: TIMEOUT_MS }, silentLogger());
    await db.migrate();
    repo = new PrepaidRepository(db);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-stall-'));
  });
  after(async () => {
    resume();
    for (const cc of credit) await cc.stop();
    await db?.close();
    await server?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const creditControl = async (instanceId: string): Promise<CreditControl> => {
    const cc = await openCreditControl({ store: repo, journalDir: path.join(dir, instanceId) },
      { ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId, heartbeatSeconds: 3600 });
    credit.push(cc);
    await cc.start();
    return cc;
  };

  /** Three connections in the pool, so that the statements below need no new one (a connect has its own, longer, timeout). */
  const warmPool = async (): Promise<void> => {
    await Promise.all([1, 2, 3].map(() => db.direct!.execute('SELECT SLEEP(0.2) AS s', [])));
  };

  it('fails each statement that gets no answer within the statement timeout as a lost connection, and goes on once the server answers', async () => {
    await warmPool();
    await stall();
    let took: number;
    let errors: unknown[];
    try {
      const t0 = Date.now();
      errors = await Promise.all([1, 2, 3].map((i) => db.direct!.execute('SELECT $1 AS n', [i]).then(() => undefined, (e: unknown) => e)));
      took = Date.now() - t0;
    } finally {
      resume();
    }
    for (const e of errors) {
      assert.ok(e instanceof ConnectionError, `a lost connection, got ${String(e)}`);
      assert.match(e.message, new RegExp(`no answer from the database within ${TIMEOUT_MS} ms`));
      assert.equal(outcomeUnknown(e), true, 'the statement was sent: its outcome is unknown');
    }
    assert.ok(took >= TIMEOUT_MS - 50 && took < TIMEOUT_MS + 4000, `failed after ${took} ms`);
    // The timed-out connections were closed, not handed out again: the next statements get answers.
    const rows = await Promise.all([1, 2, 3, 4].map((i) => db.direct!.execute('SELECT $1 AS n', [i])));
    assert.deepEqual(rows.map((r) => Number((r as Array<{ n: unknown }>)[0]!.n)), [1, 2, 3, 4]);
  });

  it('fails a transaction whose statement gets no answer within the bound as a lost connection, and the pool goes on once the server answers', async () => {
    await warmPool();
    let failure: unknown;
    let took = 0;
    try {
      failure = await db.direct!.transaction({}, async (t) => {
        await db.sequelize.query('SELECT 1', { transaction: t });
        await stall();
        const t0 = Date.now();
        try {
          return await db.sequelize.query('SELECT 2', { transaction: t });
        } finally {
          took = Date.now() - t0;
        }
      }).then(() => undefined, (e: unknown) => e);
    } finally {
      resume();
    }
    assert.ok(failure instanceof ConnectionError, `a lost connection, got ${String(failure)}`);
    assert.match(failure.message, /no answer from the database within 1000 ms \(transaction\)/);
    assert.equal(outcomeUnknown(failure), true);
    assert.ok(took < TIMEOUT_MS + 4000, `the waiting statement failed after ${took} ms`);
    const rows = await Promise.all([1, 2, 3, 4].map((i) => db.direct!.execute('SELECT $1 AS n', [i])));
    assert.equal(rows.length, 4);
    assert.deepEqual(await db.direct!.transaction({}, (t) => db.sequelize.query('SELECT 7 AS n', { transaction: t, plain: true })), { n: 7 });
  });

  it('refuses a call whose authorisation gets no answer, and gives back the money the resumed server reserved for it', async () => {
    const cc = await creditControl('stall-a');
    const account = await fundedAccount(cc, '50');
    await warmPool();
    // The authorisation prepared on the connection the pool hands out next (its most recent), so
    // that under the stall the statement itself is sent, not only its PREPARE.
    assert.ok((await cc.authorise({ callId: 'stall-warm', accountId: account.id, pricer: tariff })).granted);
    await cc.release('stall-warm');
    await stall();
    let refused;
    let took: number;
    try {
      const t0 = Date.now();
      refused = await cc.authorise({ callId: 'stall-call-1', accountId: account.id, pricer: tariff });
      took = Date.now() - t0;
    } finally {
      resume();
    }
    assert.equal(refused.granted ? 'granted' : refused.refusal.code, 'DB_UNAVAILABLE');
    assert.ok(took < TIMEOUT_MS + 4000, `refused after ${took} ms`);
    assert.equal(cc.lostAuthorisationCount(), 1);
    // Resumed, the server runs the authorisation it had received: the beat finds it and releases it.
    const released = await eventually('the lost authorisation released', async () => {
      await cc.beat();
      const r = await repo.findReservation('stall-call-1');
      return r?.state === 'released' ? r : undefined;
    }, 15_000, 200);
    assert.equal(released.charged ?? 0n, 0n);
    assert.equal(cc.lostAuthorisationCount(), 0);
    const after = (await repo.getAccount(account.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('50'), 0n, 0]);
  });

  it('journals a settlement that gets no answer and charges it exactly once, though the resumed server ran it too', async () => {
    const cc = await creditControl('stall-b');
    const account = await fundedAccount(cc, '50');
    assert.ok((await cc.authorise({ callId: 'stall-call-2', accountId: account.id, pricer: tariff })).granted);
    await cc.answer('stall-call-2', tariff);
    await warmPool();
    // A settlement prepared on the connection the pool hands out next, so that under the stall the
    // statement itself is sent, not only its PREPARE.
    assert.ok((await cc.authorise({ callId: 'stall-warm-2', accountId: account.id, pricer: tariff })).granted);
    await cc.answer('stall-warm-2', tariff);
    await cc.settle('stall-warm-2', 10);
    await stall();
    let settlement;
    try {
      settlement = await cc.settle('stall-call-2', 95);
    } finally {
      resume();
    }
    assert.equal(settlement.journalled, true);
    assert.equal(settlement.charged, tariff.price(95));
    // Resumed, the server runs the settlement it had received, before any replay of the journal.
    await eventually('the resumed server ran the settlement', async () => (await repo.findReservation('stall-call-2'))?.state === 'settled', 15_000, 100);
    await eventually('the journal replayed', async () => {
      await cc.beat();
      return cc.journalPending() === 0;
    }, 15_000, 200);
    const after = (await repo.getAccount(account.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('50') - tariff.price(10) - tariff.price(95), 0n, 0]);
    const r = (await repo.findReservation('stall-call-2'))!;
    assert.deepEqual([r.state, r.charged], ['settled', tariff.price(95)]);
  });

  it('fails a top-up within the bound while the server stalls, and the same key applies it once after it resumes', async () => {
    const cc = await creditControl('stall-c');
    const account = await fundedAccount(cc, '10');
    await stall();
    let failure: unknown;
    let took: number;
    try {
      const t0 = Date.now();
      failure = await cc.topup(account.id, m('5'), 'stall-topup').then(() => undefined, (e: unknown) => e);
      took = Date.now() - t0;
    } finally {
      resume();
    }
    assert.ok(failure instanceof Error && (failure as { code?: string }).code === 'DB_UNAVAILABLE', `DB_UNAVAILABLE, got ${String(failure)}`);
    assert.equal(outcomeUnknown(failure), true);
    assert.ok(took < TIMEOUT_MS + 4000, `failed after ${took} ms`);
    // The operator's retry with the same key: applied once, whatever the resumed server did with the first.
    const entry = await eventually('the top-up retried', () => cc.topup(account.id, m('5'), 'stall-topup').then((e) => e, () => undefined), 15_000, 200);
    assert.equal(entry.amount, m('5'));
    assert.equal((await repo.getAccount(account.id))!.balance, m('15'));
    assert.equal((await repo.listEntries(account.id, 100)).filter((e) => e.idempotencyKey === 'stall-topup').length, 1);
  });
});
