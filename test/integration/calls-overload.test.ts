import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { QueryTypes } from 'sequelize';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { silentLogger } from '../../lib/common/logger';
import { databaseOptionsFromUrl, openDatabase, openDatabaseUrl, type Database } from '../../lib/db/database';
import { poolWaitersOf } from '../../app/admission/overload';
import { allFarEndsAt, PEOPLE, PREFIX_OF, seedCallWorld } from '../support/call-fixture';
import { cdrOf, checkBooks, placeCall, SCENARIOS, startFarEnd, type CallerRun, type FarEndProcess } from '../support/calls';
import { startSipp, type SippResult } from '../support/sipp';
import { testDatabaseUrl } from '../support/mariadb';
import { adminClient, eventually, metricSum, parseMetrics, type AdminClient } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';

/** A fresh database with the call world, and a far end that answers every call. */
async function answeringWorld(name: string): Promise<{ url: string; db: Database; answerFar: FarEndProcess }> {
  const url = await testDatabaseUrl(name);
  const db = await openDatabaseUrl(url);
  await db.migrate();
  const answerFar = await startFarEnd('uas-answer.xml', 'udp');
  await seedCallWorld(db, allFarEndsAt(answerFar.port), 'udp');
  return { url, db, answerFar };
}

/** Long enough that the far-end-held calls and the refusals are all in place before its caller hangs up. */
const LIVE_HOLD_MS = 12_000;
const RETRY_AFTER = 7;

/**
 * The overload is made deterministic by its calls-in-set-up bound: two calls ring at a far end
 * that never answers, and are held there until the test ends them through the admin API.
 */
describe('overload: while calls in set-up are at their bound, new calls get 503 with Retry-After at once; live calls go on (MariaDB, SIPp)', function () {
  this.timeout(180_000);
  let db: Database;
  let product: Product;
  let api: AdminClient;
  let answerFar: FarEndProcess;
  let ringFar: FarEndProcess;
  let ringingAt = 0;
  const runs = new Map<string, CallerRun>();
  const cdrs = new Map<string, CdrRecord>();

  const scrape = async () => parseMetrics((await api.call('GET', '/metrics')).text);
  const ringer = (rest: string) => placeCall({
    scenario: 'fault-uac-ring-expect-final.xml', caller: PEOPLE.dora.e164, dialled: `0${PREFIX_OF.silent.slice(2)}${rest}`,
    transport: 'udp', sipPort: product.sipPort, timeoutMs: 90_000,
  });
  const refused = async (name: string) => {
    const r = await placeCall({ scenario: 'uac-expect-503.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, timeoutMs: 20_000 });
    runs.set(name, r);
    cdrs.set(name, await cdrOf(db, r.sipCallId));
  };
  const answered = async (name: string, holdMs: number) => {
    const r = await placeCall({ scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, holdMs, timeoutMs: 60_000 });
    runs.set(name, r);
    cdrs.set(name, await cdrOf(db, r.sipCallId, 30_000));
  };

  before(async () => {
    const url = await testDatabaseUrl('calls_overload');
    db = await openDatabaseUrl(url);
    await db.migrate();
    answerFar = await startFarEnd('uas-answer.xml', 'udp');
    ringFar = await startFarEnd('uas-ring-no-answer.xml', 'udp');
    await seedCallWorld(db, { ...allFarEndsAt(answerFar.port), silent: ringFar.port }, 'udp');
    product = await startProduct({
      databaseUrl: url,
      config: {
        prepaid: { grantSeconds: 30, reauthLeadSeconds: 2 },
        calls: {
          noAnswerSeconds: 120,
          // Only the calls-in-set-up bound can trip: the lag and pool bounds are out of reach on any machine.
          overload: { enabled: true, maxCallsInSetup: 2, maxEventLoopLagMs: 600_000, maxPoolWaiters: 1_000_000, clearRatio: 0.5, minOverloadSeconds: 0, retryAfterSeconds: RETRY_AFTER },
        },
      },
    });
    api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);

    // A live call, answered before the overload; its caller hangs up while the overload lasts.
    const live = answered('live', LIVE_HOLD_MS);
    await product.waitForLog((l) => l.message === 'call answered', 20_000);
    // Two calls held ringing: the bound of calls in set-up is reached.
    const ringers = [ringer('7654321'), ringer('7654322')];
    await eventually('both held calls ringing at the far end', async () => ringFar.readLog().filter((l) => l.startsWith('INVITE')).length === 2, 20_000);
    ringingAt = Date.now();
    await refused('refused while ringing');
    await live;
    await refused('refused after the live call ended');

    // The cause goes: the held calls are ended; new calls are admitted again.
    const held = (await api.call('GET', '/calls')).json.calls as Array<{ callId: string; state: string }>;
    for (const c of held.filter((x) => x.state === 'dialling')) assert.equal((await api.call('DELETE', `/calls/${c.callId}`)).status, 200);
    const ringerRuns = await Promise.all(ringers);
    ringerRuns.forEach((r, i) => runs.set(`held ${i + 1}`, r));
    for (const [i, r] of ringerRuns.entries()) cdrs.set(`held ${i + 1}`, await cdrOf(db, r.sipCallId));
    await product.waitForLog((l) => l.message.startsWith('overload ended'), 10_000);
    await answered('after recovery', 1000);
  });

  after(async () => {
    await product?.stop();
    await ringFar?.stop();
    await answerFar?.stop();
    await db?.close();
  });

  it('refuses new calls with 503, Retry-After and Reason Overloaded, in well under a second', () => {
    for (const name of ['refused while ringing', 'refused after the live call ended']) {
      const r = runs.get(name)!;
      const c = cdrs.get(name)!;
      assert.equal(r.result.exitCode, 0, `${name}: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
      assert.equal(r.reason?.trim(), 'SIP;cause=503;text="Overloaded"', name);
      const retryAfter = r.log.map((l) => /^RETRYAFTER \S+ (.*)$/.exec(l)?.[1]?.trim()).find(Boolean);
      assert.equal(retryAfter, String(RETRY_AFTER), name);
      assert.ok(c.endAt.getTime() - c.inviteAt.getTime() < 1000, `${name}: refused ${c.endAt.getTime() - c.inviteAt.getTime()} ms after its INVITE`);
    }
  });

  it('records each refusal as a refused call, charged nothing, and does no credit control for it', async () => {
    for (const name of ['refused while ringing', 'refused after the live call ended']) {
      const c = cdrs.get(name)!;
      assert.deepEqual([c.disposition, c.releaseCause, c.sipStatus, c.sipReason], ['refused', 'refused', 503, 'OVERLOADED'], name);
      assert.equal(c.cost, 0n);
      assert.equal(c.ledgerKey, null, 'nothing charged');
      assert.equal(c.accountId, null, 'the caller was not even looked up');
    }
    const m = await scrape();
    // The live call, the two held calls and the call after recovery: four authorisations, none for the refusals.
    assert.equal(metricSum(m, 'tollgate_credit_control_seconds_count', { operation: 'authorise' }), 4);
  });

  it('lets the live call\'s caller hang up (an in-dialog BYE) while new calls are refused, and settles it', () => {
    const r = runs.get('live')!;
    const c = cdrs.get('live')!;
    assert.equal(r.result.exitCode, 0, `live: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
    assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'caller_bye']);
    assert.ok(c.endAt.getTime() > ringingAt, `the BYE came after the held calls were in place (ended ${ringingAt - c.endAt.getTime()} ms before)`);
    assert.ok(c.cost > 0n);
  });

  it('admits new calls again once the calls in set-up are gone', () => {
    const r = runs.get('after recovery')!;
    const c = cdrs.get('after recovery')!;
    assert.equal(r.result.exitCode, 0, `after recovery: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
    assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'caller_bye']);
    for (const name of ['held 1', 'held 2']) assert.deepEqual([cdrs.get(name)!.disposition, cdrs.get(name)!.releaseCause], ['failed', 'admin'], name);
  });

  it('logs one line when the overload starts and one when it ends, and counts the refusals in the metrics', async () => {
    const started = product.logs.filter((l) => l.message.startsWith('overload started'));
    const ended = product.logs.filter((l) => l.message.startsWith('overload ended'));
    assert.equal(started.length, 1);
    assert.equal(started[0]!.cause, 'callsInSetup');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.refused, 2);
    const m = await scrape();
    assert.equal(metricSum(m, 'tollgate_overload_refused_total', { cause: 'calls_in_setup' }), 2);
    assert.equal(metricSum(m, 'tollgate_overloaded'), 0);
    assert.equal(metricSum(m, 'tollgate_calls_in_setup'), 0);
    assert.equal(metricSum(m, 'tollgate_calls_refused_total', { reason: 'OVERLOADED', status: '503' }), 2);
  });

  it('leaves the books exact', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
    assert.equal(books.cdrsChecked, 6);
  });
});

describe('the database pool waiters signal reads a real Sequelize pool (MariaDB)', function () {
  this.timeout(60_000);

  it('counts a query waiting for the one pooled connection a transaction holds, and none once it is released', async () => {
    const url = await testDatabaseUrl('overload_pool');
    const db = await openDatabase({ ...databaseOptionsFromUrl(url), pool: { max: 1, min: 0, acquireMs: 20_000, idleMs: 10_000 } }, silentLogger());
    try {
      const waiters = poolWaitersOf(db.sequelize);
      assert.equal(waiters(), 0);
      let release!: () => void;
      const held = new Promise<void>((r) => { release = r; });
      let holding!: () => void;
      const inTransaction = new Promise<void>((r) => { holding = r; });
      const transaction = db.sequelize.transaction(async (t) => {
        await db.sequelize.query('SELECT 1', { transaction: t });
        holding();
        await held;
      });
      await inTransaction;
      const waiting = db.sequelize.query('SELECT 2');
      await eventually('one query waiting for the pool', async () => waiters() === 1, 10_000, 20);
      release();
      await Promise.all([transaction, waiting]);
      assert.equal(waiters(), 0);
    } finally {
      await db.close();
    }
  });
});

/**
 * The database blocked: a table lock holds the authorisations of a few calls, so they hold the
 * pool's two connections and the rest wait for one; the pool waiters' bound trips.
 */
describe('overload: while queries queue for the database pool, new calls get 503 at once; when the database answers again, calls are admitted (MariaDB, SIPp)', function () {
  this.timeout(180_000);
  const BLOCKED = 6;
  let db: Database;
  let product: Product;
  let answerFar: FarEndProcess;
  let lock: mysql.Connection | undefined;
  let refusedRun: CallerRun;
  let refusedCdr: CdrRecord;
  let afterRun: CallerRun;
  let afterCdr: CdrRecord;
  const blockedRuns: CallerRun[] = [];
  const blockedCdrs: CdrRecord[] = [];

  const call = (scenario: string, holdMs = 1000) => placeCall({ scenario, caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, holdMs, timeoutMs: 90_000 });

  before(async () => {
    const world = await answeringWorld('calls_overload_pool');
    ({ db, answerFar } = world);
    const url = world.url;
    product = await startProduct({
      databaseUrl: url,
      config: {
        // Two connections; a query waits for one as long as the table is locked.
        database: { pool: { max: 2, min: 0, acquireMs: 90_000, idleMs: 10_000 } },
        calls: { overload: { enabled: true, maxCallsInSetup: 5000, maxEventLoopLagMs: 600_000, maxPoolWaiters: 2, clearRatio: 0.5, minOverloadSeconds: 0, retryAfterSeconds: RETRY_AFTER } },
      },
    });
    const u = new URL(url);
    lock = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
    try {
      await lock.query('LOCK TABLES reservations WRITE');
      const blocked = Array.from({ length: BLOCKED }, () => call('uac-call-caller-hangs-up.xml'));
      await product.waitForLog((l) => l.message.startsWith('overload started'), 30_000);
      refusedRun = await call('uac-expect-503.xml');
      await lock.query('UNLOCK TABLES');
      await product.waitForLog((l) => l.message.startsWith('overload ended'), 30_000);
      blockedRuns.push(...await Promise.all(blocked));
    } finally {
      await lock.end();
    }
    refusedCdr = await cdrOf(db, refusedRun.sipCallId, 30_000);
    for (const r of blockedRuns) blockedCdrs.push(await cdrOf(db, r.sipCallId, 30_000));
    afterRun = await call('uac-call-caller-hangs-up.xml');
    afterCdr = await cdrOf(db, afterRun.sipCallId, 30_000);
  });

  after(async () => {
    await product?.stop();
    await answerFar?.stop();
    await db?.close();
  });

  it('starts the overload on the pool waiters and refuses a new call with 503, Retry-After and Reason Overloaded, in well under a second', () => {
    const started = product.logs.filter((l) => l.message.startsWith('overload started'));
    assert.equal(started[0]?.cause, 'poolWaiters');
    assert.equal(refusedRun.result.exitCode, 0, `SIPp exit ${refusedRun.result.exitCode}\n${refusedRun.result.stdout.slice(-800)}`);
    assert.equal(refusedRun.reason?.trim(), 'SIP;cause=503;text="Overloaded"');
    assert.equal(refusedRun.log.map((l) => /^RETRYAFTER \S+ (.*)$/.exec(l)?.[1]?.trim()).find(Boolean), String(RETRY_AFTER));
    assert.deepEqual([refusedCdr.disposition, refusedCdr.sipStatus, refusedCdr.sipReason, refusedCdr.cost, refusedCdr.ledgerKey], ['refused', 503, 'OVERLOADED', 0n, null]);
    assert.ok(refusedCdr.endAt.getTime() - refusedCdr.inviteAt.getTime() < 1000, `refused ${refusedCdr.endAt.getTime() - refusedCdr.inviteAt.getTime()} ms after its INVITE`);
  });

  it('the calls that waited for the database are connected once it answers, and new calls are admitted again', () => {
    for (const [i, r] of blockedRuns.entries()) {
      assert.equal(r.result.exitCode, 0, `blocked ${i}: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
      assert.deepEqual([blockedCdrs[i]!.disposition, blockedCdrs[i]!.releaseCause], ['answered', 'caller_bye'], `blocked ${i}`);
    }
    assert.equal(afterRun.result.exitCode, 0, `after: SIPp exit ${afterRun.result.exitCode}\n${afterRun.result.stdout.slice(-800)}`);
    assert.deepEqual([afterCdr.disposition, afterCdr.releaseCause], ['answered', 'caller_bye']);
  });

  it('leaves the books exact', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
    assert.equal(books.cdrsChecked, BLOCKED + 2);
  });
});

/**
 * The dial queue is made real by slowing the database: a trigger sleeps in every reservation the
 * authorisations write, so every new call waits that much longer for its outbound INVITE, as a
 * queue that stands would make it wait. The floor is set by the calls before it.
 */
describe('overload: while the dial queue stands over its bound, a share of new calls gets 503 and the rest are connected; it ends when the queue goes (MariaDB, SIPp)', function () {
  this.timeout(240_000);
  const RATE = 40;
  const CALLS = 1400;
  /** Each authorisation's sleep: above the bound (20 ms) alone, and 40 calls/s over two accounts still get through. */
  const SLEEP_S = 0.03;
  let db: Database;
  let product: Product;
  let answerFar: FarEndProcess;
  let caller: SippResult;
  let cdrs: CdrRecord[] = [];
  let slowedAt = 0;
  let startedAt = 0;
  let endedAt = 0;

  const cdrCount = async () => Number((await db.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM cdrs', { type: QueryTypes.SELECT }))[0]?.n ?? 0);

  before(async () => {
    const world = await answeringWorld('calls_overload_dial');
    ({ db, answerFar } = world);
    const url = world.url;
    product = await startProduct({
      databaseUrl: url,
      config: {
        prepaid: { grantSeconds: 30, reauthLeadSeconds: 2 },
        // Only the dial queue can trip: the other bounds are out of reach on any machine. The floor is
        // read after 5 s of calls (a tenth of 50 s), well within the calls before the slow-down.
        calls: { overload: { enabled: true, maxCallsInSetup: 100_000, maxEventLoopLagMs: 600_000, maxPoolWaiters: 1_000_000, maxDialQueueMs: 20, dialFloorSeconds: 50, clearRatio: 0.5, minOverloadSeconds: 0, retryAfterSeconds: RETRY_AFTER } },
      },
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-dial-queue-'));
    const csv = path.join(dir, 'callers.csv');
    // Two callers, each on an account of its own: the authorisations of one account wait for each other's.
    fs.writeFileSync(csv, `SEQUENTIAL\n${PEOPLE.alice.e164};${PEOPLE.bob.ext};\n${PEOPLE.bob.e164};${PEOPLE.alice.ext};\n`);
    try {
      const sipp = await startSipp({
        scenario: { file: path.join(SCENARIOS, 'uac-call-or-503.xml') }, transport: 'udp', target: `127.0.0.1:${product.sipPort}`,
        calls: CALLS, rate: RATE, injection: csv, durationMs: 200, timeoutMs: 180_000, extraArgs: ['-recv_timeout', '60000'],
      });
      // Ten seconds of calls at the floor, then every authorisation sleeps.
      await eventually('calls set up before the database is slowed', async () => (await cdrCount()) >= RATE * 10, 90_000);
      await db.sequelize.query(`CREATE TRIGGER slow_reservations BEFORE INSERT ON reservations FOR EACH ROW SET @slept = SLEEP(${SLEEP_S})`);
      slowedAt = Date.now();
      const started = await product.waitForLog((l) => l.message.startsWith('overload started'), 60_000);
      startedAt = Date.parse(String(started.timestamp));
      // Some seconds of shedding, then the database is quick again.
      await eventually('calls refused for the dial queue', async () => metricSum(parseMetrics((await adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken).call('GET', '/metrics')).text), 'tollgate_overload_refused_total') >= 20, 60_000);
      await db.sequelize.query('DROP TRIGGER slow_reservations');
      const ended = await product.waitForLog((l) => l.message.startsWith('overload ended'), 60_000);
      endedAt = Date.parse(String(ended.timestamp));
      caller = await sipp.done;
    } finally {
      await db.sequelize.query('DROP TRIGGER IF EXISTS slow_reservations');
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await eventually('one CDR per call', async () => (await cdrCount()) >= CALLS, 60_000);
    cdrs = await new CdrRepository(db).list({ limit: CALLS + 10 });
  });

  after(async () => {
    await product?.stop();
    await answerFar?.stop();
    await db?.close();
  });

  it('starts on the dial queue after the database slowed, with a share of new calls, not every one', () => {
    const started = product.logs.filter((l) => l.message.startsWith('overload started'));
    assert.equal(started[0]?.message, 'overload started: a share of new calls is refused with 503');
    assert.equal(started[0]?.cause, 'dialQueueMs');
    assert.ok(Number(started[0]?.dialQueueMs) > 20, `dial queue ${started[0]?.dialQueueMs} ms`);
    assert.ok(startedAt >= slowedAt - 1000, 'not before the database slowed');
  });

  it('every call ends as SIPp expects; in the overload, calls are both refused (503 Overloaded, nothing charged) and connected', () => {
    assert.equal(caller.exitCode, 0, `SIPp exit ${caller.exitCode}\n${caller.stdout.slice(-1500)}`);
    assert.equal(caller.stats.successful, CALLS);
    assert.equal(cdrs.length, CALLS, 'one CDR per call');
    const refused = cdrs.filter((c) => c.disposition === 'refused');
    assert.ok(refused.length >= 20);
    for (const c of refused) assert.deepEqual([c.sipStatus, c.sipReason, c.cost, c.ledgerKey], [503, 'OVERLOADED', 0n, null]);
    const during = cdrs.filter((c) => c.inviteAt.getTime() >= startedAt && c.inviteAt.getTime() <= endedAt);
    const answeredDuring = during.filter((c) => c.disposition === 'answered').length;
    assert.ok(answeredDuring > 0 && answeredDuring < during.length, `of ${during.length} calls in the overload, ${answeredDuring} answered`);
    assert.deepEqual(new Set(cdrs.filter((c) => c.disposition !== 'refused').map((c) => c.disposition)), new Set(['answered']));
  });

  it('admits every call again once the queue is gone', () => {
    // A call offered a second after the end: past the share's last refusals.
    const after = cdrs.filter((c) => c.inviteAt.getTime() > endedAt + 1000);
    assert.ok(after.length > 0, 'calls after the end of the overload');
    assert.deepEqual(after.filter((c) => c.disposition !== 'answered').map((c) => `${c.sipStatus} ${c.sipReason}`), []);
  });

  it('leaves the books exact', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
    assert.equal(books.cdrsChecked, CALLS);
  });
});
