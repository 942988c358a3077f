/**
 * Operations tests: the demo directory and tariffs seeded into a fresh MariaDB with the trunks
 * pointing at SIPp far ends, a client for the admin API, a Prometheus text parser, and the books
 * (balances against ledgers, open reservations) read straight from the database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { silentLogger } from '../../lib/common/logger';
import { parseMoney, type Micros } from '../../lib/common/money';
import { openDatabaseUrl } from '../../lib/db/database';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { seedDemoData } from '../../app/seed';
import { startProduct, type ConfigPatch, type Product } from './product';
import { startSipp, type SippProcess } from './sipp';

export const NUMBERING = { countryCode: '49', nationalPrefix: '0', internationalPrefix: '00', areaCodeLength: 2, minNationalDigits: 4 };

/** Demo accounts (app/seed.ts): alice 10.00 EUR prepaid, bob 0.50, office postpaid, dora 5.00, broke 0. */
export const ALICE = '4930100201';
export const DORA = '4930555000';
/** Demo account with no money: its calls are refused 402. */
export const BROKE = '4930100204';

/**
 * Migrates and seeds the demo data; the carrier trunk (default route) and the PBX trunk (on-net
 * callees) point at the given loopback ports.
 */
export async function seedOpsDatabase(databaseUrl: string, ports: { carrier: number; pbx?: number }): Promise<void> {
  const db = await openDatabaseUrl(databaseUrl, silentLogger());
  try {
    await db.migrate();
    await seedDemoData(db, { numbering: NUMBERING }, silentLogger());
    await new VpnRepository(db).changeValidated(NUMBERING, async (repo) => {
      await repo.updateTrunk('carrier', { port: ports.carrier });
      if (ports.pbx) await repo.updateTrunk('pbx-loopback', { port: ports.pbx });
    });
  } finally {
    await db.close();
  }
}

export interface AdminClient {
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: Record<string, unknown>; text: string }>;
}

export function adminClient(baseUrl: string, token: string): AdminClient {
  return {
    async call(method, path, body, tok = token) {
      const headers: Record<string, string> = {};
      if (tok !== null) headers.authorization = `Bearer ${tok}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* /metrics is text */ }
      return { status: res.status, json, text };
    },
  };
}

/** Prometheus text → { 'name{a="b"}': value } (labels as written). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Sum of every series of a metric whose labels include all of `labels`. */
export function metricSum(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, v] of metrics) {
    const base = key.split('{')[0];
    if (base !== name) continue;
    if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${val}"`))) sum += v;
  }
  return sum;
}

export interface Books {
  /** Accounts whose balance differs from the sum of their ledger. */
  unbalanced: string[];
  /** Reservations still active. */
  openReservations: number;
  /** Sum of `reserved` over all accounts (0 when nothing is open). */
  reservedTotal: Micros;
  /** Calls charged: ledger charges by call id, as positive micro-units. */
  charges: Map<string, Micros>;
  /** CDRs by call id. */
  cdrs: Map<string, { disposition: string; releaseCause: string | null; billableSeconds: number; cost: Micros; ledgerKey: string | null }>;
  /** Reservations by call id. */
  reservations: Map<string, { state: string; checkpointSeconds: number; checkpointAmount: Micros; settledSeconds: number | null; charged: Micros | null }>;
}

/** Reads the books straight from the database. */
export async function readBooks(databaseUrl: string): Promise<Books> {
  const u = new URL(databaseUrl);
  const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username) || 'root', password: decodeURIComponent(u.password), database: u.pathname.slice(1), supportBigNumbers: true, bigNumberStrings: true, decimalNumbers: false });
  try {
    const [accounts] = await conn.query('SELECT a.code, CAST(a.balance AS CHAR) AS balance, CAST(a.reserved AS CHAR) AS reserved, (SELECT CAST(COALESCE(SUM(l.amount), 0) AS CHAR) FROM ledger_entries l WHERE l.account_id = a.id) AS ledger FROM accounts a') as unknown as [Array<{ code: string; balance: string; reserved: string; ledger: string }>];
    const [res] = await conn.query('SELECT call_id, state, checkpoint_seconds, CAST(checkpoint_amount AS CHAR) AS checkpoint_amount, settled_seconds, CAST(charged AS CHAR) AS charged FROM reservations') as unknown as [Array<{ call_id: string; state: string; checkpoint_seconds: number; checkpoint_amount: string; settled_seconds: number | null; charged: string | null }>];
    const [entries] = await conn.query("SELECT call_id, CAST(amount AS CHAR) AS amount FROM ledger_entries WHERE kind = 'charge' AND call_id IS NOT NULL") as unknown as [Array<{ call_id: string; amount: string }>];
    const [cdrs] = await conn.query('SELECT call_id, disposition, release_cause, billable_seconds, CAST(cost AS CHAR) AS cost, ledger_key FROM cdrs') as unknown as [Array<{ call_id: string; disposition: string; release_cause: string | null; billable_seconds: number; cost: string; ledger_key: string | null }>];
    const charges = new Map<string, Micros>();
    for (const e of entries) charges.set(e.call_id, (charges.get(e.call_id) ?? 0n) - parseMoney(e.amount));
    return {
      unbalanced: accounts.filter((a) => parseMoney(a.balance) !== parseMoney(a.ledger)).map((a) => `${a.code}: balance ${a.balance}, ledger ${a.ledger}`),
      openReservations: res.filter((r) => r.state === 'active').length,
      reservedTotal: accounts.reduce((s, a) => s + parseMoney(a.reserved), 0n),
      charges,
      cdrs: new Map(cdrs.map((c) => [c.call_id, { disposition: c.disposition, releaseCause: c.release_cause, billableSeconds: Number(c.billable_seconds), cost: parseMoney(c.cost), ledgerKey: c.ledger_key }])),
      reservations: new Map(res.map((r) => [r.call_id, {
        state: r.state, checkpointSeconds: Number(r.checkpoint_seconds), checkpointAmount: parseMoney(r.checkpoint_amount),
        settledSeconds: r.settled_seconds === null ? null : Number(r.settled_seconds), charged: r.charged === null ? null : parseMoney(r.charged),
      }])),
    };
  } finally {
    await conn.end();
  }
}

/** Polls until the condition holds (bounded). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 10_000 && Date.now() < until; i++) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
}

/** SIPp's -inf file: one `caller;callee;` line per call. */
export function injectionFile(rows: Array<[string, string]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ops-inf-'));
  const file = path.join(dir, 'calls.csv');
  fs.writeFileSync(file, `SEQUENTIAL\n${rows.map(([a, b]) => `${a};${b};`).join('\n')}\n`);
  return file;
}

/**
 * The edge and the application as two separately spawned processes (as `tollgate start` runs
 * them), so a test can signal or kill the application alone.
 */
export interface EdgeAndApp {
  edge: Product;
  app: Product;
  api: AdminClient;
  /** Starts the application again on the same ports and data folder. */
  restartApp(): Promise<Product>;
  stop(): Promise<void>;
}

export async function startEdgeAndApp(databaseUrl: string, config: ConfigPatch): Promise<EdgeAndApp> {
  const edge = await startProduct({ databaseUrl, config, command: 'edge' });
  let app: Product;
  try {
    app = await startProduct({ databaseUrl, config, command: 'app', reuse: edge });
  } catch (err) {
    await edge.stop();
    throw err;
  }
  const both: EdgeAndApp = {
    edge, app,
    api: adminClient(`http://127.0.0.1:${edge.adminPort}`, app.adminToken),
    async restartApp() {
      both.app = await startProduct({ databaseUrl, config, command: 'app', reuse: edge });
      return both.app;
    },
    async stop() {
      await both.app.stop();
      await edge.stop();
    },
  };
  return both;
}

/** The edge's counters from its metrics listener (metrics.edge). */
export async function edgeCounters(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/counters`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Record<string, number>;
}

/**
 * Two SIPp callers at once: Alice's off-net calls, answered and hung up after holdMs, and calls of
 * the account without money, refused 402. Stop both in a finally.
 */
export async function startAnsweredAndRefused(sipPort: number, opts: { answered: number; refused: number; holdMs: number }): Promise<{ callers: SippProcess; broke: SippProcess }> {
  const scenarios = path.resolve(__dirname, '../../../scenarios');
  const callers = await startSipp({
    scenario: { file: path.join(scenarios, 'uac-call-caller-hangs-up.xml') }, target: `127.0.0.1:${sipPort}`, transport: 'udp',
    injection: injectionFile(Array.from({ length: opts.answered }, () => [ALICE, '9030555123'] as [string, string])),
    calls: opts.answered, rate: 5, durationMs: opts.holdMs, timeoutMs: 40_000,
  });
  const broke = await startSipp({
    scenario: { file: path.join(scenarios, 'uac-no-credit-expect-402.xml') }, target: `127.0.0.1:${sipPort}`, transport: 'udp',
    injection: injectionFile(Array.from({ length: opts.refused }, () => [BROKE, '201'] as [string, string])),
    calls: opts.refused, rate: 10, timeoutMs: 40_000,
  });
  return { callers, broke };
}
