import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { parseMoney as m } from '../../lib/common/money';
import { DEFAULT_CREDIT_CONTROL_OPTIONS, JOURNAL_FILE, openCreditControl, type CreditControlOptions } from '../../lib/prepaid';
import { startMariaDb, type MariaDbServer } from '../support/mariadb';
import { tenSecondSteps, fundedAccount } from '../support/prepaid-fixtures';

describe('prepaid while the database is down', function () {
  this.timeout(180_000);
  let server: MariaDbServer;
  let db: Database;
  let repo: PrepaidRepository;
  let dir: string;
  const tariff = tenSecondSteps();

  before(async () => {
    server = await startMariaDb();
    db = await openDatabaseUrl(await server.createDatabase('outage'));
    await db.migrate();
    repo = new PrepaidRepository(db);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-journal-'));
  });
  after(async () => {
    await db?.close();
    await server?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const options = (instanceId: string, o: Partial<CreditControlOptions> = {}): CreditControlOptions =>
    ({ ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId, heartbeatSeconds: 3600, ...o });

  it('refuses new calls, journals settlements, and after a restart replays them exactly once the database is back', async () => {
    const journalDir = path.join(dir, 'refuse');
    const cc = await openCreditControl({ store: repo, journalDir }, options('outage-a'));
    await cc.start();
    const account = await fundedAccount(cc, '50');
    const live: string[] = [];
    for (let i = 0; i < 6; i++) {
      const callId = `outage-${i}`;
      assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      await cc.answer(callId, tariff);
      await cc.checkpoint(callId, 20);
      live.push(callId);
    }
    assert.ok((await cc.authorise({ callId: 'outage-ringing', accountId: account.id, pricer: tariff })).granted);

    await server.stop();
    const refused = await cc.authorise({ callId: 'outage-new', accountId: account.id, pricer: tariff });
    assert.equal(refused.granted ? 'granted' : refused.refusal.code, 'DB_UNAVAILABLE');
    const ext = await cc.extend(live[0]!);
    assert.deepEqual([ext.addedSeconds, ext.final], [0, true], 'a live call ends at the end of its grant');
    let expected = 0n;
    for (const [i, callId] of live.entries()) {
      const s = await cc.settle(callId, 17 + i * 41);
      assert.equal(s.journalled, true);
      assert.equal(s.charged, tariff.price(17 + i * 41));
      expected += s.charged;
    }
    await cc.release('outage-ringing');
    assert.equal(cc.journalPending(), 7);
    await cc.stop();
    assert.ok(fs.readFileSync(path.join(journalDir, JOURNAL_FILE), 'utf8').split('\n').filter(Boolean).length >= 7, 'the journal is on disk');

    // A new process on the same journal; the database is still down when it starts.
    const restarted = await openCreditControl({ store: repo, journalDir }, options('outage-a2'));
    assert.equal(restarted.journalPending(), 7);
    await restarted.start();
    assert.equal(restarted.journalPending(), 7, 'nothing applied while the database is down');
    await server.start();
    await restarted.beat();
    assert.equal(restarted.journalPending(), 0);
    const after = await restarted.accounts.require(account.id);
    assert.equal(after.balance, m('50') - expected);
    assert.deepEqual([after.reserved, after.liveCalls], [0n, 0]);
    assert.deepEqual((await restarted.replayJournal()).applied, 0);
    assert.equal(fs.readFileSync(path.join(journalDir, JOURNAL_FILE), 'utf8'), '', 'the journal is emptied once applied');
    for (const a of await repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    await restarted.stop();
  });

  it('admits new calls unreserved and grants live calls a bounded grace under the lenient policy', async () => {
    const journalDir = path.join(dir, 'admit');
    const cc = await openCreditControl({ store: repo, journalDir }, options('outage-b', {
      grantSeconds: 60, failurePolicy: { newCalls: 'admit', liveCalls: 'grace', graceSeconds: 30 },
    }));
    await cc.start();
    const account = await fundedAccount(cc, '10');
    assert.ok((await cc.authorise({ callId: 'grace-live', accountId: account.id, pricer: tariff })).granted);
    await cc.answer('grace-live', tariff);

    await server.stop();
    const admitted = await cc.authorise({ callId: 'grace-new', accountId: account.id, pricer: tariff });
    assert.ok(admitted.granted);
    assert.equal(admitted.grant.mode, 'offline');
    const grace = await cc.extend('grace-live');
    assert.deepEqual([grace.addedSeconds, grace.grantedSeconds, grace.final], [30, 90, true]);
    const more = await cc.extend('grace-live');
    assert.equal(more.addedSeconds, 0, 'the grace is granted once');
    await cc.answer('grace-new', tariff);
    const s1 = await cc.settle('grace-live', 85);
    const s2 = await cc.settle('grace-new', 45);
    assert.ok(s1.journalled && s2.journalled);

    await server.start();
    await cc.beat();
    assert.equal(cc.journalPending(), 0);
    const after = await cc.accounts.require(account.id);
    assert.equal(after.balance, m('10') - tariff.price(85) - tariff.price(45));
    assert.deepEqual([after.reserved, after.liveCalls], [0n, 0]);
    for (const a of await repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    await cc.stop();
  });
});
