/**
 * A throwaway MariaDB for tests: a fresh data directory under the OS temp folder, mariadbd on a free
 * loopback port, root without a password. The harness starts one for the whole run and exports its
 * URL as TOLLGATE_TEST_MYSQL_URL; tests that must stop and restart the server start their own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export const TEST_MYSQL_ENV = 'TOLLGATE_TEST_MYSQL_URL';

export function findMariadbd(): string | undefined {
  for (const p of ['/usr/sbin/mariadbd', '/usr/bin/mariadbd', '/usr/local/sbin/mariadbd', '/usr/local/bin/mariadbd']) {
    if (fs.existsSync(p)) return p;
  }
  const which = spawnSync('sh', ['-c', 'command -v mariadbd'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface MariaDbServer {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** The server's Unix socket (for a url's `?socket=`). */
  readonly socketPath: string;
  /** mysql://root@127.0.0.1:port/<database> */
  url(database?: string): string;
  /** Creates an empty database with a unique name and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** mariadbd's process id while it runs (SIGSTOP / SIGCONT: a server that stalls). */
  readonly pid: number | undefined;
  /** Stops mariadbd, keeping the data (for outage tests). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes the data directory. */
  destroy(): Promise<void>;
  readonly running: boolean;
}

async function waitForServer(host: string, port: number, deadlineMs: number, proc: ChildProcess): Promise<void> {
  const until = Date.now() + deadlineMs;
  let lastErr: unknown;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`mariadbd exited with code ${proc.exitCode} while starting`);
    try {
      const conn = await mysql.createConnection({ host, port, user: 'root' });
      await conn.end();
      return;
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`mariadbd did not accept connections on ${host}:${port} within ${deadlineMs} ms: ${String(lastErr)}`);
}

export async function startMariaDb(opts: { port?: number; startTimeoutMs?: number; serverArgs?: string[] } = {}): Promise<MariaDbServer> {
  const mariadbd = findMariadbd();
  if (!mariadbd) throw new Error('mariadbd not found: install Debian package mariadb-server');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-mariadb-'));
  const dataDir = path.join(base, 'data');
  const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' });
  if (install.status !== 0) {
    fs.rmSync(base, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed (${install.status}): ${install.stderr || install.stdout}`);
  }
  const host = '127.0.0.1';
  const port = opts.port ?? (await freeTcpPort(host));
  let proc: ChildProcess | undefined;
  let log = '';

  // Its own folder for temporary tables, so nothing else that works in the system's temporary
  // folder can touch them.
  const tmpDir = path.join(base, 'tmp');
  fs.mkdirSync(tmpDir, { recursive: true });

  const start = async (): Promise<void> => {
    const args = [
      '--no-defaults', `--tmpdir=${tmpDir}`, `--datadir=${dataDir}`, `--socket=${path.join(base, 'mysqld.sock')}`, `--port=${port}`,
      `--bind-address=${host}`, `--pid-file=${path.join(base, 'mysqld.pid')}`, '--skip-name-resolve', '--skip-log-bin',
      '--innodb-buffer-pool-size=128M', '--innodb-flush-log-at-trx-commit=2', '--max-connections=500',
      '--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci', '--log-error=' + path.join(base, 'error.log'),
    ];
    args.push(...(opts.serverArgs ?? []));
    if (process.getuid?.() === 0) args.push('--user=root');
    const child = spawn(mariadbd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
    proc = child;
    try {
      await waitForServer(host, port, opts.startTimeoutMs ?? 30_000, child);
    } catch (err) {
      child.kill('SIGKILL');
      const errLog = fs.existsSync(path.join(base, 'error.log')) ? fs.readFileSync(path.join(base, 'error.log'), 'utf8').slice(-2000) : log;
      throw new Error(`${(err as Error).message}\n${errLog}`);
    }
  };

  const stop = async (): Promise<void> => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    });
  };

  await start();
  const server: MariaDbServer = {
    host, port, dataDir, socketPath: path.join(base, 'mysqld.sock'),
    get running() { return proc !== undefined && proc.exitCode === null; },
    get pid() { return proc !== undefined && proc.exitCode === null ? proc.pid : undefined; },
    url: (database = '') => `mysql://root@${host}:${port}/${database}`,
    createDatabase: async (prefix = 'tg') => createDatabaseAt(`mysql://root@${host}:${port}/`, prefix),
    stop, start,
    destroy: async () => { await stop(); fs.rmSync(base, { recursive: true, force: true }); },
  };
  return server;
}

async function createDatabaseAt(serverUrl: string, prefix: string): Promise<string> {
  const u = new URL(serverUrl);
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`.replace(/[^a-zA-Z0-9_]/g, '_');
  const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username) || 'root', password: decodeURIComponent(u.password) });
  try {
    await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh empty database on the run's MariaDB (started by the harness). */
export async function testDatabaseUrl(prefix = 'tg'): Promise<string> {
  const serverUrl = process.env[TEST_MYSQL_ENV];
  if (!serverUrl) throw new Error(`${TEST_MYSQL_ENV} is not set: run the tests through \`npm test\` (test/support/harness.ts), which starts MariaDB`);
  return createDatabaseAt(serverUrl, prefix);
}
