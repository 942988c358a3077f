/**
 * Tollgate as a user runs it, for integration tests: `node dist/app/cli.js start` (the edge and
 * the application as two processes) with a config file of the test's own — a fresh MariaDB, free
 * loopback ports, short timers — and the JSON log lines of both processes collected.
 *
 *   const product = await startProduct({ databaseUrl, config: { prepaid: { grantSeconds: 2 } } });
 *   … SIPp to 127.0.0.1:${product.sipPort} …
 *   await product.stop();            // SIGTERM, waits for a clean exit
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

const CLI = path.resolve(__dirname, '../../app/cli.js');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type ConfigPatch = { [k: string]: Json };

export interface LogLine { level: string; message: string; process?: string; [k: string]: unknown }

export interface Product {
  readonly sipPort: number;
  readonly controlPort: number;
  readonly adminPort: number;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM (or the given signal) and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function merge(base: ConfigPatch, over: ConfigPatch): ConfigPatch {
  const out: ConfigPatch = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b && typeof b === 'object' && !Array.isArray(b) && v && typeof v === 'object' && !Array.isArray(v) ? merge(b as ConfigPatch, v as ConfigPatch) : v;
  }
  return out;
}

export interface ProductOptions {
  databaseUrl: string;
  config?: ConfigPatch;
  startTimeoutMs?: number;
  /** Run only this process of the CLI ('start' by default; 'edge' or 'app' to run one). */
  command?: 'start' | 'edge' | 'app';
  /** Reuse the ports and data folder of an earlier run (restart tests). */
  reuse?: Pick<Product, 'sipPort' | 'controlPort' | 'adminPort' | 'dataDir'>;
  /** Lead its own process group, as a terminal or systemd runs it (group-signal tests). */
  detached?: boolean;
}

export async function startProduct(opts: ProductOptions): Promise<Product> {
  const sipPort = opts.reuse?.sipPort ?? await freePort('both');
  const controlPort = opts.reuse?.controlPort ?? await freePort('tcp');
  const adminPort = opts.reuse?.adminPort ?? await freePort('tcp');
  const dataDir = opts.reuse?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-product-'));
  const adminToken = 'test-admin-token';
  const config = merge({
    dataDir,
    edge: {
      sip: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }, { transport: 'tcp', address: '127.0.0.1', port: sipPort }],
      control: { address: '127.0.0.1', port: controlPort, secret: 'product-test' },
      timers: { t1: 100, t2: 800, t4: 1000 },
      appDisconnectGraceSeconds: 1,
    },
    drachtio: { mode: 'embedded', host: '127.0.0.1', port: controlPort, secret: 'product-test' },
    database: { dialect: 'mysql', url: opts.databaseUrl, pool: { max: 20, min: 0, acquireMs: 5000, idleMs: 10000 } },
    log: { level: process.env.TG_LOG_LEVEL ?? 'info', format: 'json' },
    prepaid: { heartbeatSeconds: 1, checkpointSeconds: 1, instanceStaleSeconds: 3 },
    rating: { timeZone: 'UTC', reloadSeconds: 1 },
    vpn: { reloadSeconds: 1 },
    calls: { drainSeconds: 2, noAnswerSeconds: 3 },
    admin: { enabled: true, address: '127.0.0.1', port: adminPort, token: adminToken },
  }, opts.config ?? {});
  const configFile = path.join(dataDir, `config-${Date.now()}.json`);
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));

  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: configFile };
  delete env.TOLLGATE_TEST_MYSQL_URL;
  const child = spawn(process.execPath, [CLI, opts.command ?? 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  const logs: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  let buffered = '';
  const onData = (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: LogLine;
      try { parsed = JSON.parse(line) as LogLine; } catch { parsed = { level: 'raw', message: line }; }
      logs.push(parsed);
      for (const w of [...waiters]) if (w.match(parsed)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(parsed); }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (l: LogLine) => { clearTimeout(timer); resolve(l); } };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`log line not seen within ${timeoutMs} ms; last lines:\n${logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };

  const product: Product = {
    sipPort, controlPort, adminPort, adminToken, dataDir, configFile, child, logs, waitForLog,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
  const ready = opts.command === 'edge'
    ? (l: LogLine) => l.message === 'edge listening'
    : (l: LogLine) => l.message === 'application started';
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  // The admin API's /ready answers whatever the log level; the log line is the fallback.
  let settled = false;
  const readyProbe = async (): Promise<void> => {
    const until = Date.now() + startTimeoutMs;
    while (!settled && Date.now() < until && child.exitCode === null) {
      const ok = await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Not ready: never resolve, so the race is decided by the log wait (or its timeout).
    await new Promise(() => undefined);
  };
  try {
    await Promise.race([
      waitForLog(ready, startTimeoutMs),
      ...(opts.command === 'edge' ? [] : [readyProbe()]),
      exited.then((code) => { throw new Error(`tollgate exited with ${code} while starting:\n${logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`); }),
    ]);
  } catch (err) {
    await product.stop('SIGKILL');
    throw err;
  } finally {
    settled = true;
  }
  return product;
}
