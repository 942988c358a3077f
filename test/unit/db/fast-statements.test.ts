import { strict as assert } from 'node:assert';
import { ConnectionAcquireTimeoutError, ConnectionError, Sequelize, UniqueConstraintError } from 'sequelize';
import { AppError, outcomeUnknown } from '../../../lib/common/errors';
import { FastStatements, sequelizeErrorOf, type DriverError } from '../../../lib/db/fast-statements';
import { isRetryable, isUnreachable, storeError } from '../../../lib/db/prepaid-repository';

function driverError(fields: Partial<DriverError> & { message: string }): DriverError {
  return Object.assign(new Error(fields.message), fields);
}

/** The decisions the repositories take on a statement's error. */
function decisions(err: Error): { unique: boolean; retry: boolean; unavailable: boolean; message: string } {
  const stored = storeError(err);
  return {
    unique: err instanceof UniqueConstraintError,
    retry: isRetryable(err),
    unavailable: stored instanceof AppError && stored.code === 'DB_UNAVAILABLE' && isUnreachable(err),
    message: String((err as { parent?: { message?: string } }).parent?.message ?? err.message),
  };
}

/** What Sequelize's own mysql query path makes of a driver error (its Query.formatError); nothing connects. */
function sequelizeOwn(err: DriverError): Error {
  const sequelize = new Sequelize('mysql://tollgate:x@127.0.0.1:1/tollgate', { logging: false });
  const Query = (sequelize as unknown as { dialect: { Query: new (c: unknown, s: Sequelize, o: object) => { formatError(e: Error, stack: string): Error } } }).dialect.Query;
  return new Query(null, sequelize, {}).formatError(err, '');
}

const SAMPLES: Record<string, () => DriverError> = {
  'duplicate ledger key': () => driverError({ message: "Duplicate entry 'settle:c1' for key 'ledger_entries_idempotency_key'", code: 'ER_DUP_ENTRY', errno: 1062, sqlState: '23000' }),
  deadlock: () => driverError({ message: 'Deadlock found when trying to get lock; try restarting transaction', code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' }),
  'lock wait timeout': () => driverError({ message: 'Lock wait timeout exceeded; try restarting transaction', code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }),
  'trigger refusal': () => driverError({ message: 'tollgate:refused', code: 'ER_SIGNAL_EXCEPTION', errno: 1644, sqlState: '45000' }),
  'server shutting down': () => driverError({ message: 'Server shutdown in progress', code: 'ER_SERVER_SHUTDOWN', errno: 1053 }),
  'connection refused': () => driverError({ message: 'connect ECONNREFUSED 127.0.0.1:3306', code: 'ECONNREFUSED', errno: -111, fatal: true }),
  'connection reset': () => driverError({ message: 'read ECONNRESET', code: 'ECONNRESET', errno: -104, fatal: true }),
  'connection lost': () => driverError({ message: 'Connection lost: The server closed the connection.', code: 'PROTOCOL_CONNECTION_LOST', fatal: true }),
  'server gone': () => driverError({ message: 'MySQL server has gone away', code: 'CR_SERVER_GONE_ERROR', errno: 2006 }),
  'unknown column': () => driverError({ message: "Unknown column 'x' in 'field list'", code: 'ER_BAD_FIELD_ERROR', errno: 1054, sqlState: '42S22' }),
};

describe('mysql2 errors on the direct statement path', () => {
  for (const [name, make] of Object.entries(SAMPLES)) {
    it(`${name}: the same decisions as through Sequelize`, () => {
      assert.deepEqual(decisions(sequelizeErrorOf(make(), 'SELECT 1')), decisions(sequelizeOwn(make())));
    });
  }

  it('maps each kind to the decision the repositories take', () => {
    const d = (name: string) => decisions(sequelizeErrorOf(SAMPLES[name]!()));
    assert.deepEqual(d('duplicate ledger key'), { unique: true, retry: false, unavailable: false, message: "Duplicate entry 'settle:c1' for key 'ledger_entries_idempotency_key'" });
    assert.equal(d('deadlock').retry, true);
    assert.equal(d('lock wait timeout').retry, true);
    for (const n of ['connection refused', 'connection reset', 'connection lost', 'server gone', 'server shutting down']) {
      assert.equal(d(n).unavailable, true, n);
      assert.equal(d(n).retry, false, n);
    }
    for (const n of ['trigger refusal', 'unknown column', 'deadlock']) assert.equal(d(n).unavailable, false, n);
    assert.match(d('trigger refusal').message, /tollgate:refused/);
  });

  it('reads any error the driver calls fatal as a lost connection, whatever its code', () => {
    const err = sequelizeErrorOf(driverError({ message: 'Packets out of order. Got: 3 Expected: 1', code: 'PROTOCOL_PACKETS_OUT_OF_ORDER', fatal: true }));
    assert.ok(err instanceof ConnectionError);
    assert.equal(decisions(err).unavailable, true);
  });

  it('passes Sequelize errors (a pool acquire timeout) as they are, and keeps the statement on the driver error', () => {
    const timeout = new ConnectionAcquireTimeoutError(new Error('Operation timeout'));
    assert.equal(sequelizeErrorOf(timeout), timeout);
    assert.equal(decisions(timeout).unavailable, true);
    const mapped = sequelizeErrorOf(SAMPLES['unknown column']!(), 'SELECT x FROM t') as Error & { parent: DriverError; sql: string };
    assert.equal(mapped.parent.sql, 'SELECT x FROM t');
    assert.equal(mapped.sql, 'SELECT x FROM t');
  });
});

/** A connection of the fake pool: answers each statement from `answer`, records what it was sent. */
class FakeConnection {
  readonly sent: Array<{ how: 'execute' | 'query'; sql: string; values: unknown[] }> = [];
  _closing = false;
  readonly stream = { destroyed: false, destroy: (_err?: Error) => { this.stream.destroyed = true; } };
  /** Answers held back (`hold`), to be given late. */
  readonly held: Array<(err: DriverError | null, result: unknown) => void> = [];
  constructor(private readonly answer: (sql: string) => { err?: DriverError; result?: unknown; hold?: boolean }) {}
  execute(sql: string, values: unknown[], cb: (err: DriverError | null, result: unknown) => void): void {
    this.sent.push({ how: 'execute', sql, values });
    const a = this.answer(sql);
    if (a.hold) { this.held.push(cb); return; }
    setImmediate(() => cb(a.err ?? null, a.result));
  }
  query(o: { sql: string; values?: unknown[] }, cb: (err: DriverError | null, result: unknown) => void): void {
    this.sent.push({ how: 'query', sql: o.sql, values: o.values ?? [] });
    const a = this.answer(o.sql);
    setImmediate(() => cb(a.err ?? null, a.result));
  }
}

function fakeSequelize(answer: (sql: string) => { err?: DriverError; result?: unknown; hold?: boolean }, timeoutMs?: number) {
  const connection = new FakeConnection(answer);
  const events: string[] = [];
  const acquireOptions: object[] = [];
  const queries: Array<{ sql: string }> = [];
  const sequelize = {
    options: { logging: false },
    connectionManager: {
      getConnection: async (options: object) => { acquireOptions.push(options); events.push('acquire'); return connection; },
      releaseConnection: () => { events.push('release'); },
      destroyConnection: async () => { events.push('destroy'); },
    },
    runHooks: async (name: string, _options: object, query: { sql: string }) => {
      events.push(name);
      if (name === 'afterQuery') queries.push(query);
    },
  };
  return { fast: new FastStatements(sequelize as unknown as Sequelize, timeoutMs), connection, events, acquireOptions, queries };
}

describe('direct statements on a connection of the pool', () => {
  it('sends $n parameters as ? in the order the text uses them, prepared', async () => {
    const { fast, connection } = fakeSequelize(() => ({ result: { affectedRows: 1 } }));
    await fast.execute('  UPDATE t SET a = $2, b = CAST($1 AS DECIMAL(20,6)), c = $2 WHERE id = $10 AND v = $9  ', ['one', 'two', 3, 4, 5, 6, 7, 8, 'nine', 'ten']);
    assert.deepEqual(connection.sent, [{ how: 'execute', sql: 'UPDATE t SET a = ?, b = CAST(? AS DECIMAL(20,6)), c = ? WHERE id = ? AND v = ?', values: ['two', 'one', 'two', 'ten', 'nine'] }]);
  });

  it('sends ? statements formatted by the driver (query) or prepared, values as given', async () => {
    const { fast, connection } = fakeSequelize(() => ({ result: { affectedRows: 2 } }));
    assert.deepEqual(await fast.query('INSERT INTO t (a) VALUES (?), (?)', ['x', null]), { affectedRows: 2 });
    await fast.query('INSERT INTO t (a) VALUES (?)', ['y'], 'prepared');
    assert.deepEqual(connection.sent, [
      { how: 'query', sql: 'INSERT INTO t (a) VALUES (?), (?)', values: ['x', null] },
      { how: 'execute', sql: 'INSERT INTO t (a) VALUES (?)', values: ['y'] },
    ]);
  });

  it('holds the connection for the statement only, and runs the query hooks once around it with its SQL', async () => {
    const { fast, events, queries, acquireOptions } = fakeSequelize(() => ({ result: [{ id: 7 }] }));
    assert.deepEqual(await fast.execute('SELECT id FROM t WHERE a = $1', [1]), [{ id: 7 }]);
    await fast.execute('SELECT id FROM t WHERE a = $1', [2]);
    assert.deepEqual(events, ['acquire', 'beforeQuery', 'afterQuery', 'release', 'acquire', 'beforeQuery', 'afterQuery', 'release']);
    assert.deepEqual(queries.map((q) => q.sql), ['SELECT id FROM t WHERE a = ?', 'SELECT id FROM t WHERE a = ?']);
    assert.notEqual(queries[0], queries[1], 'each statement is its own object (the metric times it by identity)');
    assert.notEqual(acquireOptions[0], acquireOptions[1], 'each acquire has its own options (the pool-wait metric keys on them)');
  });

  it('gives a connection back after a statement error, mapped as Sequelize would', async () => {
    const { fast, events } = fakeSequelize(() => ({ err: SAMPLES['duplicate ledger key']!() }));
    await assert.rejects(fast.execute('INSERT INTO t (k) VALUES ($1)', ['k']), (err: unknown) => err instanceof UniqueConstraintError);
    assert.deepEqual(events, ['acquire', 'beforeQuery', 'afterQuery', 'release']);
  });

  it('destroys, never gives back, a connection that broke or is closing', async () => {
    const lost = fakeSequelize(() => ({ err: SAMPLES['connection lost']!() }));
    await assert.rejects(lost.fast.execute('UPDATE t SET a = $1', [1]), (err: unknown) => isUnreachable(err));
    assert.deepEqual(lost.events, ['acquire', 'beforeQuery', 'afterQuery', 'destroy']);

    const closing = fakeSequelize(() => ({ result: { affectedRows: 0 } }));
    closing.connection._closing = true;
    await closing.fast.execute('UPDATE t SET a = $1', [1]);
    assert.deepEqual(closing.events, ['acquire', 'beforeQuery', 'afterQuery', 'destroy']);
  });

  it('fails a statement without an answer within the timeout as a lost connection of unknown outcome, closes its connection and ignores a late answer', async () => {
    const { fast, events, connection } = fakeSequelize(() => ({ hold: true }), 150);
    const t0 = Date.now();
    await assert.rejects(fast.execute('UPDATE t SET a = $1', [1]), (err: unknown) => {
      assert.ok(err instanceof ConnectionError, String(err));
      assert.match((err as Error).message, /no answer from the database within 150 ms/);
      assert.equal(outcomeUnknown(err), true);
      assert.equal(isUnreachable(err), true);
      return true;
    });
    assert.ok(Date.now() - t0 >= 140, 'not before the timeout');
    assert.deepEqual(events, ['acquire', 'beforeQuery', 'afterQuery', 'destroy']);
    assert.equal(connection.stream.destroyed, true, 'its socket is destroyed');
    connection.held[0]!(null, { affectedRows: 1 }); // the answer, too late: nothing happens
    assert.deepEqual(events, ['acquire', 'beforeQuery', 'afterQuery', 'destroy']);
  });

  it('leaves a statement error that is the server\'s own answer without the unknown-outcome mark', async () => {
    const { fast } = fakeSequelize(() => ({ err: SAMPLES['duplicate ledger key']!() }), 150);
    await assert.rejects(fast.execute('INSERT INTO t (k) VALUES ($1)', ['k']), (err: unknown) => !outcomeUnknown(err));
  });

  it('refuses a parameter without a value before taking a connection', async () => {
    const { fast, events } = fakeSequelize(() => ({ result: [] }));
    await assert.rejects(fast.execute('SELECT $1, $2', [1]), /has no value/);
    assert.deepEqual(events, []);
  });
});
