import fs from 'node:fs';
import path from 'node:path';
import { QueryTypes, Sequelize, type Options, type QueryInterface } from 'sequelize';
import { Umzug, SequelizeStorage } from 'umzug';
import { silentLogger, type Logger } from '../common/logger';
import { AppError } from '../common/errors';
import { stepsDone, type MigrationStep } from './migrations/steps';
import { DEFAULT_STATEMENT_TIMEOUT_MS, FastStatements } from './fast-statements';

export type Dialect = 'mysql' | 'sqlite';

/** What opening a database needs; the app's config section `database` has this shape. */
export interface DatabaseOptions {
  dialect: Dialect;
  /** mysql://user:pass@host:port/db, sqlite:/path/file.sqlite or sqlite::memory: — wins over the fields. */
  url: string | null;
  /** SQLite file. */
  storage: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** A MySQL/MariaDB server on the same host through its Unix socket (the url's `?socket=` parameter) instead of TCP. */
  socketPath?: string;
  pool: { max: number; min: number; acquireMs: number; idleMs: number };
  /**
   * MySQL/MariaDB: how long a statement of a call waits for the server's answer once written, and a
   * ledger transaction for its whole run (DEFAULT_STATEMENT_TIMEOUT_MS when not set); then it fails
   * as a lost connection.
   */
  statementTimeoutMs?: number;
  logQueries: boolean;
}

/** Where one migration stands: applied, pending, or pending with part of its schema already there. */
export interface MigrationStatus {
  name: string;
  state: 'applied' | 'pending' | 'partial';
  /** For a pending migration: what of it is in the schema, and what is missing. */
  present: string[];
  missing: string[];
}

type MigrationModule = {
  up: (p: { context: QueryInterface }) => Promise<void>;
  down: (p: { context: QueryInterface }) => Promise<void>;
  steps?: MigrationStep[];
};

/**
 * The pool hands out its most recently used connection, so under steady load the connections
 * needed only at peaks sit idle between them: closed after `idleMs`, each is opened again at the
 * next peak (handshake, session settings, every statement prepared again). A minute outlasts the
 * gaps between peaks of a steady load and still gives connections back once the load drops.
 */
export const DEFAULT_POOL = { max: 10, min: 0, acquireMs: 10_000, idleMs: 60_000 };

/** Prepared statements kept per MySQL/MariaDB connection (mysql2's cache; see sequelizeOptions). */
export const PREPARED_STATEMENTS_PER_CONNECTION = 256;

/** What answers on the connection: MySQL and MariaDB share the dialect but not every statement. */
export interface DatabaseServer {
  readonly product: 'mysql' | 'mariadb' | 'sqlite';
  /** As the server reports it (SELECT VERSION(), sqlite_version()). */
  readonly version: string;
  /** INSERT ... RETURNING: MariaDB (10.5+) and SQLite have it, MySQL 8 has not. */
  readonly returning: boolean;
}

/** The product behind a mysql connection, from its VERSION() text ('10.11.6-MariaDB-0+deb12u1', '8.0.36'). */
export function serverOf(version: string): DatabaseServer {
  const mariadb = /mariadb/i.test(version);
  return { product: mariadb ? 'mariadb' : 'mysql', version, returning: mariadb };
}

const SQLITE_SERVER: DatabaseServer = { product: 'sqlite', version: 'sqlite', returning: true };

/** The database: one Sequelize instance and its migrations. The only owner of the connection. */
export class Database {
  /**
   * MySQL/MariaDB: statements sent with the driver on a connection of the same pool, for the hot
   * path of a call (undefined on SQLite, whose statements all go through Sequelize).
   */
  readonly direct: FastStatements | undefined;

  constructor(readonly sequelize: Sequelize, readonly dialect: Dialect, readonly logger: Logger,
    readonly server: DatabaseServer = dialect === 'sqlite' ? SQLITE_SERVER : serverOf(''), statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS) {
    this.direct = dialect === 'mysql' ? new FastStatements(sequelize, statementTimeoutMs) : undefined;
  }

  private migrator(): Umzug<QueryInterface> {
    return new Umzug({
      migrations: {
        glob: ['migrations/[0-9][0-9][0-9][0-9]-*.js', { cwd: __dirname }],
        resolve: ({ name, path: file, context }) => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const mod = require(file!) as MigrationModule;
          return { name: name.replace(/\.js$/, ''), path: file, up: () => mod.up({ context }), down: () => mod.down({ context }) };
        },
      },
      context: this.sequelize.getQueryInterface(),
      storage: new SequelizeStorage({ sequelize: this.sequelize, tableName: 'schema_migrations' }),
      logger: undefined,
    });
  }

  /** Applies the pending migrations in name order; returns their names (empty when up to date). */
  async migrate(): Promise<string[]> {
    let applied: Array<{ name: string }>;
    try {
      applied = await this.migrator().up();
    } catch (err) {
      // Our own refusals (a stored value to correct first) keep their code; the rest names the migration.
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof AppError) throw cause;
      throw new AppError('DB_MIGRATION_FAILED', (err as Error).message, {}, { cause: cause ?? err });
    }
    const names = applied.map((m) => m.name);
    if (names.length > 0) this.logger.info('database migrated', { applied: names });
    return names;
  }

  async pendingMigrations(): Promise<string[]> {
    return (await this.migrator().pending()).map((m) => m.name);
  }

  /**
   * Every migration with its state. A pending migration whose steps are partly in the schema (an
   * interrupted run: MySQL does not roll DDL back) is `partial`; `migrate` completes it.
   */
  async migrationStatus(): Promise<MigrationStatus[]> {
    const migrator = this.migrator();
    const executed = new Set((await migrator.executed()).map((m) => m.name));
    const pending = await migrator.pending();
    const qi = this.sequelize.getQueryInterface();
    const out: MigrationStatus[] = [...executed].sort().map((name) => ({ name, state: 'applied', present: [], missing: [] }));
    for (const m of pending) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const steps = await stepsDone(qi, (require(m.path!) as MigrationModule).steps ?? []);
      const present = steps.filter((s) => s.done).map((s) => s.step.what);
      const missing = steps.filter((s) => !s.done).map((s) => s.step.what);
      out.push({ name: m.name, state: present.length > 0 ? 'partial' : 'pending', present, missing });
    }
    return out;
  }

  /** Cheap liveness probe. */
  async ping(): Promise<void> {
    await this.sequelize.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.sequelize.close();
  }
}

function sequelizeOptions(opts: DatabaseOptions, logger: Logger): Options {
  const logging = opts.logQueries ? (sql: string) => logger.debug('sql', { sql }) : false;
  const pool = { max: opts.pool.max, min: opts.pool.min, acquire: opts.pool.acquireMs, idle: opts.pool.idleMs };
  const common: Options = { logging, pool, define: { underscored: true }, benchmark: false };
  if (opts.dialect === 'mysql') {
    // DECIMAL stays a string so money is parsed exactly; dates are UTC.
    // READ COMMITTED, set once per connection: the money is guarded by conditional single-statement
    // updates, so the gap locks of REPEATABLE READ only make calls on different accounts wait.
    const hooks = {
      afterConnect: async (connection: unknown) => {
        await (connection as { promise(): { query(sql: string): Promise<unknown> } }).promise().query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      },
    };
    // maxPreparedStatements: each connection's cache of prepared statements, which mysql2 sizes
    // up front (16,000 entries by default: half a megabyte per connection, before any statement).
    // The product prepares a few dozen texts; a statement pushed out is closed on the server.
    const dialectOptions = {
      decimalNumbers: false, supportBigNumbers: true, bigNumberStrings: true, dateStrings: false, maxPreparedStatements: PREPARED_STATEMENTS_PER_CONNECTION,
      ...(opts.socketPath ? { socketPath: opts.socketPath } : {}),
    };
    return { ...common, hooks, dialect: 'mysql', timezone: '+00:00', dialectOptions };
  }
  return { ...common, dialect: 'sqlite', storage: opts.storage, pool: { ...pool, max: 1 } };
}

function fromUrl(url: string, base: DatabaseOptions): DatabaseOptions {
  if (url.startsWith('sqlite:')) {
    const storage = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') || ':memory:';
    return { ...base, dialect: 'sqlite', storage };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new AppError('DB_URL_INVALID', `database url is not a URL: ${url.replace(/:[^:@/]*@/, ':***@')}`, {}, { cause: err });
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new AppError('DB_URL_INVALID', `database url scheme must be mysql: or sqlite:, got ${u.protocol}`);
  }
  const unknown = [...u.searchParams.keys()].filter((k) => k !== 'socket');
  if (unknown.length > 0) {
    throw new AppError('DB_URL_INVALID', `database url parameter ${unknown.map((k) => `'${k}'`).join(', ')} is not known; the one parameter is socket=<path of the server's Unix socket>`);
  }
  const socket = u.searchParams.get('socket');
  if (socket !== null && !path.isAbsolute(socket)) {
    throw new AppError('DB_URL_INVALID', `database url parameter socket must be an absolute path, got '${socket}'`);
  }
  return {
    ...base,
    dialect: 'mysql',
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || base.database,
    ...(socket ? { socketPath: socket } : {}),
  };
}

/** Connects (and for SQLite creates the file's folder); does not migrate. */
export async function openDatabase(options: DatabaseOptions, logger: Logger): Promise<Database> {
  const opts = options.url ? fromUrl(options.url, options) : options;
  let sequelize: Sequelize;
  if (opts.dialect === 'sqlite') {
    if (opts.storage !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.storage)), { recursive: true });
    sequelize = new Sequelize(sequelizeOptions(opts, logger));
  } else {
    sequelize = new Sequelize(opts.database, opts.user, opts.password, { ...sequelizeOptions(opts, logger), host: opts.host, port: opts.port });
  }
  let server = SQLITE_SERVER;
  try {
    await sequelize.authenticate();
    if (opts.dialect === 'mysql') {
      const [row] = await sequelize.query<{ version: string }>('SELECT VERSION() AS version', { type: QueryTypes.SELECT });
      server = serverOf(String(row?.version ?? ''));
    }
    if (opts.dialect === 'sqlite') {
      // WAL lets readers run beside the writer; busy_timeout waits out a concurrent writer.
      if (opts.storage !== ':memory:') await sequelize.query('PRAGMA journal_mode = WAL');
      await sequelize.query('PRAGMA busy_timeout = 5000');
      await sequelize.query('PRAGMA foreign_keys = ON');
    }
  } catch (err) {
    await sequelize.close().catch((closeErr: unknown) => logger.debug('close after failed connect', { error: String(closeErr) }));
    const where = opts.dialect === 'sqlite' ? opts.storage : opts.socketPath ? `${opts.socketPath} (${opts.database})` : `${opts.host}:${opts.port}/${opts.database}`;
    throw new AppError('DB_UNAVAILABLE', `cannot connect to ${opts.dialect} database at ${where}: ${(err as Error).message}`, {}, { cause: err });
  }
  return new Database(sequelize, opts.dialect, logger, server, opts.statementTimeoutMs);
}

export function databaseOptionsFromUrl(url: string): DatabaseOptions {
  return fromUrl(url, {
    dialect: 'sqlite', url: null, storage: ':memory:', host: '127.0.0.1', port: 3306, user: 'root', password: '',
    database: 'tollgate', pool: DEFAULT_POOL, logQueries: false,
  });
}

export async function openDatabaseUrl(url: string, logger: Logger = silentLogger()): Promise<Database> {
  return openDatabase(databaseOptionsFromUrl(url), logger);
}

interface Waiting<Req, Res> {
  req: Req;
  resolve: (res: Res) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit of one kind of write: a request made while another is being written waits for it,
 * then goes with every other waiting request (at most `max`) as one statement. Alone, a request is
 * written at once, with no added wait. Each request resolves only when its own write is committed.
 * When the statement for several fails, each is written alone, so that each gets its own outcome;
 * when the database cannot be reached, all fail at once (alone, each would wait for it in turn).
 */
export class GroupCommit<Req, Res> {
  private readonly waiting: Array<Waiting<Req, Res>> = [];
  private busy = false;

  constructor(
    private readonly max: number,
    private readonly one: (req: Req) => Promise<Res>,
    private readonly many: (reqs: Req[]) => Promise<Res[]>,
    /** An error that would fail each alone as well (the database unreachable): all fail with it at once. */
    private readonly failsAll: (err: unknown) => boolean,
  ) {}

  run(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.waiting.push({ req, resolve, reject });
      if (!this.busy) void this.writeWaiting();
    });
  }

  private async writeWaiting(): Promise<void> {
    this.busy = true;
    try {
      // Bounded by the requests made meanwhile; each pass takes up to `max` of them.
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.max);
        if (batch.length > 1) {
          let failure: { err: unknown } | undefined;
          const results = await this.many(batch.map((w) => w.req)).catch((err: unknown) => { failure = { err }; return undefined; });
          if (results) {
            batch.forEach((w, i) => w.resolve(results[i]!));
            continue;
          }
          if (failure && this.failsAll(failure.err)) {
            for (const w of batch) w.reject(failure.err);
            continue;
          }
        }
        for (const w of batch) await this.one(w.req).then(w.resolve, w.reject);
      }
    } finally {
      this.busy = false;
    }
  }
}
