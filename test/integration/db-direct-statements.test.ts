import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import { TollgateMetrics } from '../../app/metrics';
import { AppError } from '../../lib/common/errors';
import { parseMoney } from '../../lib/common/money';
import { openDatabaseUrl, PREPARED_STATEMENTS_PER_CONNECTION, type Database } from '../../lib/db/database';
import { PrepaidRepository, storeError } from '../../lib/db/prepaid-repository';
import { CreditControl, DEFAULT_CREDIT_CONTROL_OPTIONS, MemorySettlementJournal } from '../../lib/prepaid';
import { startMariaDb, testDatabaseUrl } from '../support/mariadb';
import { tenSecondSteps } from '../support/prepaid-fixtures';

/** sequelize-pool's counters (Sequelize's typings keep the pool internal). */
interface PoolCounts { size: number; available: number; using: number; waiting: number }

function poolOf(db: Database): PoolCounts {
  return (db.sequelize.connectionManager as unknown as { pool: PoolCounts }).pool;
}

async function until(what: string, fn: () => Promise<boolean> | boolean, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The statements of a call on MySQL/MariaDB go to the driver directly, on connections of
 * Sequelize's pool (lib/db/fast-statements.ts): the pool gets every connection back, a connection
 * that breaks mid-statement is destroyed and the error reads as the database being unavailable, and
 * every statement is counted once by the statement metric.
 */
describe('direct statements on MariaDB', function () {
  this.timeout(60_000);
  let db: Database;
  let repo: PrepaidRepository;
  let cc: CreditControl;
  const tariff = tenSecondSteps();

  before(async () => {
    db = await openDatabaseUrl(await testDatabaseUrl('direct'));
    await db.migrate();
    repo = new PrepaidRepository(db);
    cc = new CreditControl({ store: repo, journal: new MemorySettlementJournal() }, { ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId: 'direct' });
  });
  after(async () => {
    await db?.close();
  });

  it('is what MySQL and MariaDB use, and the pool gets every connection back, after refusals and replays too', async () => {
    assert.ok(db.direct, 'a mysql database has the direct path');
    const rich = await cc.accounts.create({ code: 'direct-rich', kind: 'prepaid', currency: 'EUR' });
    await cc.topup(rich.id, parseMoney('100'), 'direct-rich-open');
    const poor = await cc.accounts.create({ code: 'direct-poor', kind: 'prepaid', currency: 'EUR' });
    const calls = Array.from({ length: 60 }, (_, i) => i);
    await Promise.all(calls.map(async (i) => {
      const callId = `direct-${i}`;
      const auth = await cc.authorise({ callId, accountId: i % 3 === 0 ? poor.id : rich.id, pricer: tariff });
      if (!auth.granted) return;
      // A replayed authorise meets the unique key of the call id: an error answered as 'exists'.
      assert.ok((await cc.authorise({ callId, accountId: rich.id, pricer: tariff })).granted);
      await cc.answer(callId, tariff);
      await cc.settle(callId, 1 + i);
    }));
    await until('every connection back in the pool', () => poolOf(db).using === 0 && poolOf(db).waiting === 0);
    assert.ok(poolOf(db).available >= 1 && poolOf(db).size <= 10, `pool ${JSON.stringify({ size: poolOf(db).size, available: poolOf(db).available })}`);
    for (const a of await repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
  });

  it(`keeps at most ${PREPARED_STATEMENTS_PER_CONNECTION} prepared statements per connection, and closes on the server the ones it pushes out`, async () => {
    interface DriverConnection {
      execute(sql: string, values: unknown[], cb: (err: Error | null) => void): void;
      query(sql: string, cb: (err: Error | null, rows: Array<{ Value: string }>) => void): void;
    }
    // A server of its own: the count is the server's, and the run's shared server has other
    // tests' connections, whose statements go when their idle connections are closed.
    const server = await startMariaDb();
    const own = await openDatabaseUrl(await server.createDatabase('prepared'));
    const cm = own.sequelize.connectionManager as unknown as { getConnection(): Promise<DriverConnection>; releaseConnection(c: DriverConnection): Promise<void> };
    const conn = await cm.getConnection();
    const run = (sql: string, values: unknown[]) => new Promise<void>((resolve, reject) => conn.execute(sql, values, (err) => (err ? reject(err) : resolve())));
    const prepared = () => new Promise<number>((resolve, reject) => conn.query("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'", (err, rows) => (err ? reject(err) : resolve(Number(rows[0]!.Value)))));
    try {
      const before = await prepared();
      const texts = PREPARED_STATEMENTS_PER_CONNECTION + 64;
      for (let i = 0; i < texts; i++) await run(`SELECT ? + ${i} AS n`, [1]);
      const added = (await prepared()) - before;
      assert.ok(added <= PREPARED_STATEMENTS_PER_CONNECTION, `${texts} statement texts left ${added} prepared on the server`);
      assert.ok(added >= PREPARED_STATEMENTS_PER_CONNECTION - 8, `the cache is used up to its size (${added})`);
    } finally {
      await cm.releaseConnection(conn);
      await own.close();
      await server.destroy();
    }
  });

  it('destroys a connection killed mid-statement, reads the error as the database unavailable, and goes on on another', async () => {
    const statement = db.direct!.execute('SELECT SLEEP(20) AS slept, $1 AS tag', ['direct-kill']);
    const failure = statement.then(() => undefined, (err: unknown) => err);
    let id = 0;
    await until('the statement running on the server', async () => {
      const rows = await db.sequelize.query<{ id: number }>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(20)%'", { type: QueryTypes.SELECT });
      id = Number(rows[0]?.id ?? 0);
      return id > 0;
    });
    const sizeBefore = poolOf(db).size;
    await db.sequelize.query(`KILL CONNECTION ${id}`);
    const err = await failure;
    assert.ok(err, 'the statement failed');
    const stored = storeError(err);
    assert.ok(stored instanceof AppError && stored.code === 'DB_UNAVAILABLE', `read as ${String(stored)}`);
    await until('the killed connection out of the pool', () => poolOf(db).size < sizeBefore && poolOf(db).using === 0);
    const rows = await db.direct!.execute('SELECT $1 AS ok', ['after']) as Array<{ ok: string }>;
    assert.equal(rows[0]?.ok, 'after');
  });

  it('counts each statement once in the statement metric, as the application exposes it', async () => {
    const metrics = new TollgateMetrics();
    metrics.observeDatabase(db.sequelize);
    const count = async (): Promise<number> => {
      const m = /^tollgate_db_query_seconds_count (\d+)/m.exec(await metrics.registry.metrics());
      return Number(m?.[1] ?? 0);
    };
    const account = await cc.accounts.create({ code: 'direct-metric', kind: 'prepaid', currency: 'EUR' });
    await cc.topup(account.id, parseMoney('10'), 'direct-metric-open');
    const before = await count();
    // One call alone: authorise (INSERT ... RETURNING), answer (UPDATE), settle (UPDATE): three statements.
    assert.ok((await cc.authorise({ callId: 'direct-metric-1', accountId: account.id, pricer: tariff })).granted);
    await cc.answer('direct-metric-1', tariff);
    await cc.settle('direct-metric-1', 30);
    assert.equal(await count() - before, 3);
  });
});
