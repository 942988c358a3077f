/**
 * Full-product load benchmark (npm run bench): Tollgate as a user runs it (`tollgate start`: the
 * edge and the application as two processes) on a real MariaDB, SIPp as the PBX (one caller over
 * UDP and one over TCP, each reading the caller CSV of test/support/load-fixture.ts: on-net and
 * off-net member calls, prepaid and postpaid, public calls of non-members) and SIPp far ends
 * answering (uas-answer.xml: the PBX trunk over UDP, the carrier over TCP). The call rate rises
 * step by step; each step places rate × step-seconds calls held for BENCH_HOLD_MS, then waits for
 * every CDR. Stops at the first step with a failed call, a missing CDR or a rate SIPp could not
 * reach. Prints per step: calls, failures, achieved rate, setup latency (INVITE → 200 at the
 * caller) p50/p99, CPU of each process; then peak memory, the highest rate sustained with zero
 * failures, and the books (every balance equals its ledger, no open reservation, every CDR's cost
 * equals its ledger charge, CDRs = calls placed).
 *
 * Env: BENCH_RATES (calls/s, comma list; default 50,100,200,300,400), BENCH_STEP_SECONDS (default
 * 60), BENCH_HOLD_MS (default 1500), BENCH_DB_POOL (default 40), TOLLGATE_TEST_MYSQL_URL (use that
 * MariaDB server instead of starting a throwaway one).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { checkBooks, SCENARIOS } from '../support/calls';
import { DEFAULT_LOAD_SIZE, loadCallerCsv, loadCallerRows, seedLoadWorld } from '../support/load-fixture';
import { startMariaDb, testDatabaseUrl, TEST_MYSQL_ENV, type MariaDbServer } from '../support/mariadb';
import { freePort } from '../support/ports';
import { runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';

const RATES = (process.env.BENCH_RATES ?? '50,100,200,300,400').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 60);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 1500);
const DB_POOL = Number(process.env.BENCH_DB_POOL ?? 40);
const CLK_TCK = 100;
/** BENCH_PROFILE=<dir>: the product's processes write V8 CPU profiles there; the top frames are printed. */
const PROFILE_DIR = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : undefined;
/** A step counts as sustained only if SIPp placed its calls at least this close to the target rate. */
const RATE_TOLERANCE = 0.95;

// ---- processes -------------------------------------------------------------------------------

interface ProcSample { cpuTicks: number; rssKb: number; hwmKb: number }

function sample(pid: number): ProcSample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { cpuTicks: Number(fields[11]) + Number(fields[12]), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

function procEntries(): Array<{ pid: number; ppid: number; cmdline: string[] }> {
  const out: Array<{ pid: number; ppid: number; cmdline: string[] }> = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(name), ppid, cmdline });
    } catch { /* the process ended while listing */ }
  }
  return out;
}

/** The edge and app processes are children of the supervisor (`tollgate start`); bounded wait. */
async function productPids(supervisor: number): Promise<{ edge: number; app: number }> {
  for (let i = 0; i < 100; i++) {
    const kids = procEntries().filter((p) => p.ppid === supervisor);
    const edge = kids.find((p) => p.cmdline[p.cmdline.length - 1] === 'edge')?.pid;
    const app = kids.find((p) => p.cmdline[p.cmdline.length - 1] === 'app')?.pid;
    if (edge && app) return { edge, app };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`edge and app processes not found under supervisor ${supervisor}`);
}

function mariadbPid(port: number): number | undefined {
  return procEntries().find((p) => p.cmdline.some((a) => /mariadbd|mysqld/.test(path.basename(a))) && p.cmdline.includes(`--port=${port}`))?.pid;
}

/** CPU (ticks at start and last seen) and peak memory of named processes, sampled every second. */
class Meter {
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, ProcSample>();
  private readonly peakKb = new Map<string, number>();
  private readonly pids = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private stoppedAt = 0;

  watch(name: string, pid: number | undefined): void { if (pid) this.pids.set(name, pid); }

  start(): void {
    this.first.clear(); this.last.clear();
    this.startedAt = Date.now();
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  stop(): void {
    this.tick();
    this.stoppedAt = Date.now();
    clearInterval(this.timer);
  }

  private tick(): void {
    for (const [name, pid] of this.pids) {
      const s = sample(pid);
      if (!s) continue;
      if (!this.first.has(name)) this.first.set(name, s.cpuTicks);
      this.last.set(name, s);
      this.peakKb.set(name, Math.max(this.peakKb.get(name) ?? 0, s.hwmKb, s.rssKb));
    }
  }

  /** Percent of one core over the metered interval. */
  cpuPercent(name: string): number | undefined {
    const a = this.first.get(name);
    const b = this.last.get(name)?.cpuTicks;
    if (a === undefined || b === undefined) return undefined;
    return ((b - a) / CLK_TCK) / ((this.stoppedAt - this.startedAt) / 1000) * 100;
  }

  peakMb(name: string): number | undefined {
    const kb = this.peakKb.get(name);
    return kb === undefined ? undefined : kb / 1024;
  }

  rssMb(name: string): number | undefined {
    const kb = this.last.get(name)?.rssKb;
    return kb === undefined ? undefined : kb / 1024;
  }

  names(): string[] { return [...this.pids.keys()]; }
}

// ---- figures ---------------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (n: number | undefined, digits = 1): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

function machine(): string {
  const cpus = os.cpus();
  return `machine: ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`;
}

interface StepResult {
  rate: number;
  placed: number;
  successful: number;
  failed: number;
  retransmissions: number;
  achievedRate: number;
  p50: number;
  p99: number;
  max: number;
  cdrs: number;
  cdrWaitMs: number;
  dbLine: string;
  cpu: Record<string, number | undefined>;
  ok: boolean;
  why: string[];
}

// ---- the product, quiet ----------------------------------------------------------------------

interface QuietProduct { sipPort: number; supervisor: number; pids: { edge: number; app: number }; logs: string[]; stop(): Promise<void> }

/**
 * `tollgate start` with log level warn. test/support/product.ts's startProduct waits for the
 * info line "application started", which a warn-level product never prints; so this starts the
 * same CLI with the same kind of config and takes a first answered call as the sign of readiness.
 */
async function startQuietProduct(databaseUrl: string, csv: string, dir: string): Promise<QuietProduct> {
  const sipPort = await freePort('both');
  const controlPort = await freePort('tcp');
  const config = {
    dataDir: dir,
    edge: {
      sip: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }, { transport: 'tcp', address: '127.0.0.1', port: sipPort }],
      control: { address: '127.0.0.1', port: controlPort, secret: 'bench' },
      appDisconnectGraceSeconds: 5,
    },
    drachtio: { mode: 'embedded', host: '127.0.0.1', port: controlPort, secret: 'bench' },
    database: { dialect: 'mysql', url: databaseUrl, pool: { max: DB_POOL, min: 0, acquireMs: 10_000, idleMs: 30_000 } },
    log: { level: 'warn', format: 'json' },
    rating: { timeZone: 'UTC' },
    calls: { drainSeconds: 5, noAnswerSeconds: 30 },
    admin: { enabled: false, address: '127.0.0.1', port: 0, token: null },
  };
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: configFile };
  delete env[TEST_MYSQL_ENV];
  const cli = path.resolve(__dirname, '../../app/cli.js');
  const logs: string[] = [];
  const collect = (d: Buffer) => { for (const l of d.toString().split('\n')) if (l.trim()) logs.push(l); if (logs.length > 5000) logs.splice(0, logs.length - 5000); };
  // Profiling runs the two processes directly (V8 takes --cpu-prof on the command line only).
  const launch = (args: string[]) => {
    const c = spawn(process.execPath, [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);
    return { child: c, exited: new Promise<void>((resolve) => c.once('exit', () => resolve())) };
  };
  const children = PROFILE_DIR ? [launch(['edge'])] : [launch(['start'])];
  if (PROFILE_DIR) {
    await new Promise((r) => setTimeout(r, 500));
    children.push(launch(['app']));
  }
  const child = children[0]!.child;
  const stop = async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
    const killer = setTimeout(() => { for (const c of children) c.child.kill('SIGKILL'); }, 30_000);
    await Promise.all(children.map((c) => c.exited));
    clearTimeout(killer);
  };
  const pids = async () => (PROFILE_DIR ? { edge: children[0]!.child.pid!, app: children[1]!.child.pid! } : productPids(child.pid!));
  for (let attempt = 0; attempt < 60; attempt++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
    const r = await runSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-caller-hangs-up.xml') }, transport: 'udp', target: `127.0.0.1:${sipPort}`,
      calls: 1, durationMs: 100, injection: csv, timeoutMs: 10_000, extraArgs: ['-recv_timeout', '5000'],
    });
    if (r.exitCode === 0 && r.stats.successful === 1) return { sipPort, supervisor: child.pid!, pids: await pids(), logs, stop };
  }
  await stop();
  throw new Error(`tollgate did not answer a first call within 30 s; last lines:\n${logs.slice(-20).join('\n')}`);
}

// ---- the run ---------------------------------------------------------------------------------

async function countCdrs(db: Database): Promise<number> {
  const rows = await db.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM cdrs', { type: QueryTypes.SELECT });
  return Number(rows[0]?.n ?? 0);
}

/** Waits (bounded) until the database holds `expected` CDRs; returns the count and the wait. */
async function waitForCdrs(db: Database, expected: number, timeoutMs: number): Promise<{ n: number; ms: number }> {
  const t0 = Date.now();
  let n = await countCdrs(db);
  while (n < expected && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 250));
    n = await countCdrs(db);
  }
  return { n, ms: Date.now() - t0 };
}

/** MariaDB's own counters: statements, commits, row-lock waits (for where-the-time-goes). */
async function dbStatus(db: Database): Promise<Record<string, number>> {
  const rows = await db.sequelize.query<{ Variable_name: string; Value: string }>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions','Com_commit','Com_select','Com_insert','Com_update','Innodb_row_lock_waits','Innodb_row_lock_time','Threads_running','Max_used_connections')",
    { type: QueryTypes.SELECT });
  return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
}

async function runStep(rate: number, ctx: { product: QuietProduct; csv: string; csvTcp: string; db: Database; meter: Meter; cdrsBefore: number }): Promise<StepResult> {
  const udpRate = Math.ceil(rate / 2);
  const tcpRate = rate - udpRate;
  const legs: Array<{ transport: 'udp' | 'tcp'; rate: number }> = [{ transport: 'udp' as const, rate: udpRate }, { transport: 'tcp' as const, rate: tcpRate }].filter((l) => l.rate > 0);
  const statusBefore = await dbStatus(ctx.db);
  const t0 = Date.now();
  ctx.meter.start();
  const callers: Array<{ transport: string; sipp: SippProcess }> = [];
  for (const leg of legs) {
    const sipp = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-caller-hangs-up.xml') }, transport: leg.transport, target: `127.0.0.1:${ctx.product.sipPort}`,
      rate: leg.rate, calls: leg.rate * STEP_SECONDS, durationMs: HOLD_MS, injection: leg.transport === 'tcp' ? ctx.csvTcp : ctx.csv, rtt: true,
      timeoutMs: STEP_SECONDS * 1000 + HOLD_MS + 120_000,
      extraArgs: ['-recv_timeout', '32000', '-max_socket', '2000'],
    });
    ctx.meter.watch(`sipp-caller-${leg.transport}`, sipp.child.pid);
    callers.push({ transport: leg.transport, sipp });
  }
  const results: SippResult[] = await Promise.all(callers.map((c) => c.sipp.done));
  const elapsed = (Date.now() - t0) / 1000;
  ctx.meter.stop();

  const placed = results.reduce((s, r) => s + r.stats.created, 0);
  const successful = results.reduce((s, r) => s + r.stats.successful, 0);
  const failed = results.reduce((s, r) => s + r.stats.failed, 0);
  const target = legs.reduce((s, l) => s + l.rate * STEP_SECONDS, 0);
  const rtt = results.flatMap((r) => r.rtt).sort((a, b) => a - b);
  // Calls are created over (elapsed − hold − setup); this is the rate SIPp actually reached.
  const achievedRate = placed / Math.max(1, elapsed - HOLD_MS / 1000 - (rtt[rtt.length - 1] ?? 0) / 1000);
  const statusAfter = await dbStatus(ctx.db);
  const delta = (k: string) => (statusAfter[k] ?? 0) - (statusBefore[k] ?? 0);
  const perCall = (k: string) => (placed > 0 ? (delta(k) / placed).toFixed(1) : '-');
  const dbLine = `statements/call ${perCall('Questions')} (select ${perCall('Com_select')}, insert ${perCall('Com_insert')}, update ${perCall('Com_update')}, commit ${perCall('Com_commit')}), `
    + `row-lock waits ${delta('Innodb_row_lock_waits')} (${delta('Innodb_row_lock_time')} ms), max connections used ${statusAfter.Max_used_connections ?? '-'}`;
  const { n: cdrNow, ms } = await waitForCdrs(ctx.db, ctx.cdrsBefore + placed, 60_000);
  const cdrs = cdrNow - ctx.cdrsBefore;
  const why: string[] = [];
  results.forEach((r, i) => {
    if (r.exitCode !== 0) why.push(`SIPp ${callers[i]!.transport} exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}`);
  });
  if (failed > 0) why.push(`${failed} failed calls`);
  if (placed < target || successful < target) why.push(`${successful} of ${target} calls completed`);
  if (cdrs !== placed) why.push(`${cdrs} CDRs for ${placed} calls`);
  if (achievedRate < rate * RATE_TOLERANCE) why.push(`SIPp reached only ${achievedRate.toFixed(0)} calls/s`);
  const cpu: Record<string, number | undefined> = {};
  for (const name of ctx.meter.names()) cpu[name] = ctx.meter.cpuPercent(name);
  if (why.length > 0) {
    for (const [i, r] of results.entries()) {
      if (r.exitCode !== 0) console.log(`  SIPp ${callers[i]!.transport} tail:\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-500)}`);
    }
  }
  return {
    rate, placed, successful, failed, retransmissions: results.reduce((s, r) => s + r.stats.retransmissions, 0), achievedRate,
    p50: percentile(rtt, 50), p99: percentile(rtt, 99), max: rtt[rtt.length - 1] ?? NaN, cdrs, cdrWaitMs: ms, dbLine, cpu, ok: why.length === 0, why,
  };
}

async function main(): Promise<void> {
  console.log('Tollgate full-product load benchmark');
  console.log(machine());
  console.log(`steps: ${RATES.join(', ')} calls/s, ${STEP_SECONDS} s each, hold ${HOLD_MS} ms, DB pool ${DB_POOL}`);

  let mariadb: MariaDbServer | undefined;
  let db: Database | undefined;
  let product: QuietProduct | undefined;
  const farEnds: SippProcess[] = [];
  // Ctrl-C or a kill: stop what the run started (mariadbd ignores the terminal's SIGINT).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: stopping the product, the far ends and MariaDB`);
      void Promise.allSettled([product?.stop(), ...farEnds.map((f) => f.stop())])
        .then(() => {
          // If the supervisor had to be killed, its children are ended here.
          for (const pid of [product?.pids.app, product?.pids.edge]) {
            if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
          }
        })
        .then(() => mariadb?.destroy())
        .finally(() => process.exit(130));
    });
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  try {
    if (!process.env[TEST_MYSQL_ENV]) {
      mariadb = await startMariaDb();
      process.env[TEST_MYSQL_ENV] = mariadb.url();
    }
    const url = await testDatabaseUrl('bench');
    const u = new URL(url);
    db = await openDatabaseUrl(url);
    await db.migrate();

    const pbx = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 3_600_000, extraArgs: ['-max_socket', '2000'] });
    farEnds.push(pbx);
    const carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'tcp', timeoutMs: 3_600_000, extraArgs: ['-max_socket', '2000'] });
    farEnds.push(carrier);
    const seedT0 = Date.now();
    const world = await seedLoadWorld(db, { pbx: { port: pbx.localPort, transport: 'udp' }, carrier: { port: carrier.localPort, transport: 'tcp' } });
    // The two callers read different draws of the same mix, so they never dial with the same
    // caller at the same instant (which would only measure one account's row lock).
    const csv = path.join(tmp, 'callers-mix.csv');
    fs.writeFileSync(csv, loadCallerCsv());
    const csvTcp = path.join(tmp, 'callers-mix-tcp.csv');
    fs.writeFileSync(csvTcp, loadCallerCsv(DEFAULT_LOAD_SIZE, 8));
    const rows = loadCallerRows();
    const share = (k: string) => `${Math.round((rows.filter((r) => r.kind === k).length / rows.length) * 100)} %`;
    console.log(`world: ${world.members} VPN members (${world.postpaidAccounts} postpaid), ${world.publicCallers} public callers, ${world.prepaidAccounts} prepaid accounts; seeded in ${Date.now() - seedT0} ms`);
    console.log(`mix (${DEFAULT_LOAD_SIZE.rows} CSV rows, SEQUENTIAL): on-net ${share('onnet')}, off-net ${share('offnet')}, public ${share('public')}, postpaid callers ${Math.round((rows.filter((r) => r.postpaid).length / rows.length) * 100)} %; caller split UDP/TCP, on-net far end UDP, carrier far end TCP`);

    product = await startQuietProduct(url, csv, tmp);
    const pids = product.pids;
    const meter = new Meter();
    meter.watch('edge', pids.edge);
    meter.watch('app', pids.app);
    meter.watch('mariadb', mariadbPid(Number(u.port)));
    meter.watch('sipp-far-udp', pbx.child.pid);
    meter.watch('sipp-far-tcp', carrier.child.pid);
    console.log(`product: supervisor ${product.supervisor}, edge ${pids.edge}, app ${pids.app}; MariaDB ${mariadb ? 'throwaway' : 'from ' + TEST_MYSQL_ENV}`);

    const steps: StepResult[] = [];
    let placedTotal = 0;
    // The readiness call's CDR is written after its BYE: wait until the count stops moving.
    let cdrsBaseline = await countCdrs(db);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const n = await countCdrs(db);
      if (n === cdrsBaseline && n > 0) break;
      cdrsBaseline = n;
    }
    for (const rate of RATES) {
      const cdrsBefore = await countCdrs(db);
      const r = await runStep(rate, { product, csv, csvTcp, db, meter, cdrsBefore });
      steps.push(r);
      placedTotal += r.placed;
      const cpu = Object.entries(r.cpu).map(([k, v]) => `${k} ${fmt(v, 0)}%`).join(', ');
      console.log(`step ${rate} calls/s: placed ${r.placed}, ok ${r.successful}, failed ${r.failed}, retrans ${r.retransmissions}, achieved ${r.achievedRate.toFixed(1)} calls/s, `
        + `setup p50 ${fmt(r.p50, 2)} ms p99 ${fmt(r.p99, 2)} ms max ${fmt(r.max, 0)} ms, CDRs ${r.cdrs} (all written ${r.cdrWaitMs} ms after the last call) — ${r.ok ? 'PASS' : 'FAIL: ' + r.why.join('; ')}`);
      console.log(`  cpu (% of one core): ${cpu}`);
      console.log(`  database: ${r.dbLine}`);
      if (!r.ok) break;
    }

    // Let the last settlements land, then audit.
    await new Promise((r) => setTimeout(r, 2000));
    const books = await checkBooks(db);
    const cdrTotal = (await countCdrs(db)) - cdrsBaseline;
    const byDisposition = await db.sequelize.query<{ disposition: string; n: number }>('SELECT disposition, COUNT(*) AS n FROM cdrs GROUP BY disposition', { type: QueryTypes.SELECT });
    const byScope = await db.sequelize.query<{ scope: string | null; n: number }>('SELECT scope, COUNT(*) AS n FROM cdrs GROUP BY scope', { type: QueryTypes.SELECT });

    const sustained = steps.filter((s) => s.ok).map((s) => s.rate);
    const best = sustained.length > 0 ? steps.find((s) => s.rate === Math.max(...sustained)) : undefined;
    console.log('');
    console.log('== result ==');
    console.log(machine());
    console.log(best
      ? `highest rate sustained for ${STEP_SECONDS} s with zero failed calls: ${best.rate} calls/s (achieved ${best.achievedRate.toFixed(1)}), setup latency p50 ${fmt(best.p50, 2)} ms, p99 ${fmt(best.p99, 2)} ms`
      : 'no step passed');
    const failedStep = steps.find((s) => !s.ok);
    if (failedStep) console.log(`first failing step: ${failedStep.rate} calls/s: ${failedStep.why.join('; ')}`);
    else console.log('no step failed (raise BENCH_RATES to find the limit)');
    if (best) console.log(`cpu at ${best.rate} calls/s (% of one core): ${Object.entries(best.cpu).map(([k, v]) => `${k} ${fmt(v, 0)}`).join(', ')}`);
    console.log(`peak memory (VmHWM, MiB): ${meter.names().map((n) => `${n} ${fmt(meter.peakMb(n), 0)}`).join(', ')}`);
    console.log(`calls placed in the steps ${placedTotal}, CDRs written for them ${cdrTotal} (${cdrTotal === placedTotal ? 'equal' : 'NOT EQUAL'}); dispositions: ${byDisposition.map((d) => `${d.disposition} ${d.n}`).join(', ')}; scopes: ${byScope.map((d) => `${d.scope ?? 'none'} ${d.n}`).join(', ')}`);
    const balanced = books.accountsOk && books.problems.length === 0 && books.openReservations === 0 && cdrTotal === placedTotal;
    console.log(`books: ${balanced ? 'BALANCED' : 'NOT BALANCED'} (balances = ledgers: ${books.accountsOk}, open reservations ${books.openReservations}, CDRs checked against ledger ${books.cdrsChecked}, problems ${books.problems.length})`);
    for (const p of books.problems.slice(0, 20)) console.log(`  ${p}`);
    console.log(`product log (level warn): ${product.logs.length} lines${product.logs.length ? '; first: ' + product.logs.slice(0, 5).join(' | ') : ''}`);
    process.exitCode = best && balanced ? 0 : 1;
  } finally {
    await product?.stop();
    const far = await Promise.all(farEnds.map((f) => f.stop()));
    if (far.length) console.log(`far ends: ${far.map((r, i) => `${i === 0 ? 'pbx/udp' : 'carrier/tcp'} answered ${r.stats.successful}, failed ${r.stats.failed}`).join('; ')}`);
    await db?.close();
    await mariadb?.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
    if (PROFILE_DIR) printProfiles(PROFILE_DIR);
  }
}

interface CpuProfile { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] }

/** Top self-time frames of each V8 CPU profile in the folder. */
function printProfiles(dir: string): void {
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const prof = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    prof.samples.forEach((id, i) => {
      const n = byId.get(id);
      const dt = prof.timeDeltas[i] ?? 0;
      total += dt;
      if (!n) return;
      const where = n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/');
      const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + dt);
    });
    const idle = [...self.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
    console.log(`profile ${f}: ${(total / 1e6).toFixed(1)} s sampled, busy ${((1 - idle / total) * 100).toFixed(0)} %; top self time:`);
    for (const [k, v] of [...self.entries()].filter(([k2]) => !k2.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 25)) {
      console.log(`  ${((v / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
