import { ConnectionError, DatabaseError, UniqueConstraintError, type Sequelize, type Transaction, type TransactionOptions } from 'sequelize';
import { outcomeUnknown } from '../common/errors';

/** What mysql2 reports of a failed statement or connection. */
export interface DriverError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  /** The connection is unusable after this error (lost, reset, protocol broken). */
  fatal?: boolean;
  sql?: string;
}

/** The part of a mysql2 connection (callback API) that statements use. */
interface DriverConnection {
  execute(sql: string, values: unknown[], cb: (err: DriverError | null, result: unknown) => void): unknown;
  query(options: { sql: string; values?: unknown[] }, cb: (err: DriverError | null, result: unknown) => void): unknown;
  _fatalError?: unknown;
  _protocolError?: unknown;
  _closing?: boolean;
  stream?: { destroyed?: boolean; destroy?(err?: Error): void };
}

/**
 * Gives up a connection whose answer is late: its socket is destroyed with `err`, so the driver
 * fails whatever still waits on it (a transaction's statement) and never hands it out again.
 */
function abandon(connection: DriverConnection | undefined, err: Error): void {
  try { connection?.stream?.destroy?.(err); } catch { /* a socket already broken */ }
}

/** Sequelize's hook runner and logging option, which its typings keep internal. */
interface SequelizeInternals {
  runHooks(name: 'beforeQuery' | 'afterQuery', options: object, query: object): Promise<void>;
  options: { logging?: unknown };
}

/** Errors of the socket or the session: the statement's outcome is unknown and the server is not there. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'PROTOCOL_SEQUENCE_TIMEOUT',
]);
const ER_DUP_ENTRY = 1062;

/** How long a statement of a call waits for the server's answer by default (`database.statementTimeoutMs`). */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;

/** The driver error of a statement (or transaction) whose answer did not come in time: fatal to its connection. */
function noAnswer(timeoutMs: number, what = '', cause?: unknown): DriverError {
  return Object.assign(new Error(`no answer from the database within ${timeoutMs} ms${what}`, { cause }), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
}

/**
 * A mysql2 error as the Sequelize error its own query path would have raised, so that every
 * decision made on errors (unique key, deadlock retry, database unavailable) is the same on both
 * paths: a duplicate key is a UniqueConstraintError, a lost or refused connection (or any error
 * the driver calls fatal) a ConnectionError, anything else a DatabaseError; each keeps the driver's
 * error as `parent`, where its code, errno and message are read.
 */
export function sequelizeErrorOf(err: unknown, sql?: string): Error {
  if (!(err instanceof Error)) return new DatabaseError(Object.assign(new Error(String(err)), { sql: sql ?? '' }));
  const e = err as DriverError;
  // Sequelize's own errors (pool acquire timeout, refused connect) are already what the callers expect.
  if ((err as { name?: string }).name?.startsWith('Sequelize')) return err;
  if (sql !== undefined && e.sql === undefined) e.sql = sql;
  if (e.errno === ER_DUP_ENTRY || e.code === 'ER_DUP_ENTRY') {
    return new UniqueConstraintError({ message: 'Validation error', parent: e as Error & { sql: string }, errors: [], fields: {} });
  }
  if (e.fatal === true || (e.code !== undefined && CONNECTION_CODES.has(e.code))) return new ConnectionError(e);
  return new DatabaseError(e as Error & { sql: string });
}

/** One statement's SQL with `?` for its `$n` parameters, and which parameter goes at each `?`. */
interface Compiled {
  sql: string;
  order: number[];
}

/** Distinct statement texts kept compiled; batch statements vary with their size, so the cache is bounded. */
const MAX_COMPILED = 2000;

/**
 * Statements sent on a connection of Sequelize's own pool with mysql2 directly: the hot path of a
 * call, where Sequelize's query machinery costs more than the statement. The connection is held for
 * the statement only; one that broke is destroyed rather than handed back. Sequelize's beforeQuery
 * and afterQuery hooks run around each statement as they do around its own queries (the statement
 * metrics and counts are fed there), and its pool hooks around each acquire.
 */
export class FastStatements {
  private readonly compiled = new Map<string, Compiled>();

  private readonly internals: SequelizeInternals;

  /**
   * @param timeoutMs how long a statement waits for its answer once written (and a transaction for
   *   its whole run); then its connection is given up and it fails as a lost connection, so a server
   *   that stalls (stopped, blackholed, hung on a lock) holds no call and no pooled connection longer.
   */
  constructor(private readonly sequelize: Sequelize, readonly timeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS) {
    this.internals = sequelize as unknown as SequelizeInternals;
  }

  /**
   * A statement with `$n` parameters (as Sequelize's `bind`), prepared once per connection by
   * mysql2 (`execute`): rows of a SELECT, INSERT ... RETURNING or CALL, or the result header.
   * 'formatted' for a text that varies with a batch's size: each size prepared would stay in
   * mysql2's cache and the server's (max_prepared_stmt_count) for the connection's life.
   */
  execute(sql: string, bind: readonly unknown[], how: 'prepared' | 'formatted' = 'prepared'): Promise<unknown> {
    const c = this.compile(sql);
    return this.send(c.sql, c.order.map((i) => bind[i]), how === 'prepared');
  }

  /**
   * A statement with `?` parameters: prepared (`execute`, the cheaper for a text sent again and
   * again), or formatted into its text by mysql2 (`query`), for statements whose text changes
   * with every batch size and would each be prepared on every connection.
   */
  query(sql: string, values: readonly unknown[], how: 'prepared' | 'formatted' = 'formatted'): Promise<unknown> {
    return this.send(sql, values, how === 'prepared');
  }

  /**
   * A Sequelize transaction (managed: committed when `fn` resolves, rolled back when it throws)
   * bounded as a statement is: if it has not finished `timeoutMs` after it was asked for, it fails
   * as a lost connection of unknown outcome, and its connection (once it has one) is closed, so the
   * statement waiting on it fails too and the connection is not handed out again.
   */
  async transaction<T>(options: TransactionOptions, fn: (t: Transaction) => Promise<T>): Promise<T> {
    let connection: DriverConnection | undefined;
    let timedOut = false;
    const lost = (cause?: unknown): Error => Object.assign(new ConnectionError(noAnswer(this.timeoutMs, ' (transaction)', cause)), { outcomeUnknown: true });
    const run = this.sequelize.transaction(options, (t) => {
      connection = (t as unknown as { connection?: DriverConnection }).connection;
      if (timedOut) { abandon(connection, lost()); throw lost(); } // its time ran out while it began
      return fn(t);
    });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { timedOut = true; abandon(connection, lost()); reject(lost()); }, this.timeoutMs);
    });
    try {
      return await Promise.race([run, bound]);
    } catch (err) {
      throw timedOut && !outcomeUnknown(err) ? lost(err) : err;
    } finally {
      clearTimeout(timer);
      run.catch(() => undefined); // after a timeout it ends on its own, as its connection fails
    }
  }

  /** The SQL text with `?` for `$n`; the mapping is cached per text. */
  private compile(sql: string): Compiled {
    let c = this.compiled.get(sql);
    if (c) return c;
    const order: number[] = [];
    const text = sql.trim().replace(/\$(\d+)/g, (_m, n: string) => { order.push(Number(n) - 1); return '?'; });
    c = { sql: text, order };
    if (this.compiled.size >= MAX_COMPILED) this.compiled.clear();
    this.compiled.set(sql, c);
    return c;
  }

  private async send(sql: string, values: readonly unknown[], prepared: boolean): Promise<unknown> {
    for (const v of values) {
      if (v === undefined) throw new DatabaseError(Object.assign(new Error(`a parameter of the statement has no value: ${sql.slice(0, 120)}`), { sql }));
    }
    const manager = this.sequelize.connectionManager;
    // A fresh object per acquire and per statement: the hooks key their timings on them.
    const options = { type: 'write' as const };
    const connection = await manager.getConnection(options) as DriverConnection;
    const query = { sql, parameters: values };
    let broken = false;
    try {
      const logging = this.internals.options.logging;
      if (typeof logging === 'function') logging(`Executing (direct): ${sql}`);
      await this.internals.runHooks('beforeQuery', options, query);
      let timer: NodeJS.Timeout | undefined;
      try {
        return await new Promise<unknown>((resolve, reject) => {
          let answered = false;
          const done = (err: DriverError | null, result: unknown): void => {
            if (answered) return; // the answer after a timeout: the connection is closed already
            answered = true;
            clearTimeout(timer);
            if (err) reject(err);
            else resolve(result);
          };
          timer = setTimeout(() => {
            // The answer may still come: its socket is destroyed, the connection never handed out again.
            broken = true;
            const late = noAnswer(this.timeoutMs);
            done(late, undefined);
            abandon(connection, late);
          }, this.timeoutMs);
          if (prepared) connection.execute(sql, values as unknown[], done);
          else connection.query({ sql, values: values as unknown[] }, done);
        });
      } catch (err) {
        broken ||= (err as DriverError | undefined)?.fatal === true;
        const out = sequelizeErrorOf(err, sql);
        // Written, then the connection went: whether the server applied it is not known.
        if (out instanceof ConnectionError) Object.assign(out, { outcomeUnknown: true });
        throw out;
      } finally {
        clearTimeout(timer);
        await this.internals.runHooks('afterQuery', options, query);
      }
    } finally {
      if (broken || !usable(connection)) {
        // Out of the pool at once; closing it may wait on a dead socket, which nothing needs to await.
        manager.destroyConnection(connection).catch(() => undefined);
      } else {
        manager.releaseConnection(connection);
      }
    }
  }
}

/** As Sequelize's mysql connection manager validates a pooled connection. */
function usable(c: DriverConnection): boolean {
  return !c._fatalError && !c._protocolError && !c._closing && !c.stream?.destroyed;
}
