/**
 * Full-product load benchmark (npm run bench): Tollgate as a user runs it (`tollgate start`: the
 * edge and the application process(es)) on a real MariaDB, SIPp as the PBX (one caller over UDP
 * and one over TCP, each reading the caller CSV of test/support/load-fixture.ts: on-net and
 * off-net member calls, prepaid and postpaid, public calls of non-members) and SIPp far ends
 * answering (uas-answer.xml: the PBX trunk over UDP, the carrier over TCP).
 *
 * The call rate rises step by step; each step places rate × step-seconds calls held for
 * BENCH_HOLD_MS, then waits for every CDR; it stops at the first step with a failed call, a
 * missing CDR or a rate SIPp could not reach. During a step a progress line every few seconds
 * (rate reached, live calls, failures, CPU so far). Per step: per-process CPU-ms per call (edge,
 * each application, MariaDB, from /proc/<pid>/stat), SQL statements per call (the applications'
 * tollgate_db_query_seconds_count, and MariaDB's Questions), memory per live call per process
 * (peak RSS of the step minus the idle RSS before the first step, over the peak live calls),
 * setup latency (INVITE → 200 at the caller) p50/p99, failures, and where calls queue (the
 * applications' event-loop lag p99, database pool waits, InnoDB row-lock waits, GC pauses); the
 * setup p99 second by second (is the tail spread out or a few bursts, and what the processes did in
 * the worst seconds); and the machine: cores busy, product and SIPp shares, how often a task waited
 * for a CPU (/proc/pressure/cpu), the Node processes' main threads.
 * Then the bare B2BUA of bench:edge (test/bench/bare-b2bua.ts, on an edge of its own) at the
 * highest zero-failure rate, for the product / bare B2BUA CPU ratio; then the memory step (calls
 * held long, so that --memory-live calls are up at once: memory per live call where the calls
 * themselves, not a high rate's garbage, fill the memory); then a soak at a constant rate with the
 * RSS slope of each process (KB/min, least squares) and the slope of the applications' V8 heap in
 * use just after each full collection (tollgate_process_heap_used_after_full_gc_bytes: what is alive). Last the books: every balance
 * equals its ledger, no open reservation, every CDR's cost equals its ledger charge, CDRs = calls
 * placed (per application instance).
 *
 * Options (or env): --quick (about two minutes: 3 short steps, short bare step and soak),
 * --rates 50,100 (BENCH_RATES; default 50,100,200,300,400,500), --step-seconds N
 * (BENCH_STEP_SECONDS, default 60), --soak-minutes N (BENCH_SOAK_MINUTES, default 10; 0: none),
 * --soak-rate N (default: two thirds of the highest zero-failure rate), --applications N
 * (application processes, supervisor.applications; default 1), --no-bare, --memory-live N
 * (BENCH_MEMORY_LIVE, default 12000, quick 2000; 0: no memory step), --memory-rate N (default 200,
 * quick 100; each call is then held memory-live / memory-rate seconds), --memory-first (the memory
 * step right after idle, before the rate steps, so that its peak minus idle owes nothing to the RSS
 * they grew; the rate steps' memory figures then include its peak), --db-transport tcp|socket
 * (BENCH_DB_TRANSPORT; how the product reaches the benchmark's MariaDB: loopback TCP by default,
 * or the server's Unix socket through the url's ?socket=), --db-threads pool|connection
 * (BENCH_DB_THREADS; the throwaway MariaDB's thread pool, the default, or a thread per connection),
 * --product-nice N (the edge's and applications' nice value; below 0 needs root), --node-args
 * "--flag …" (supervisor.nodeArgs: Node.js and V8 flags for the edge and the applications), --gc-windows
 * (records the garbage collections of the edge and the applications; each step then sets its slow
 * 100 ms windows of set-up against their full collections). Env: BENCH_HOLD_MS
 * (default 1500), BENCH_DB_POOL (default 40), BENCH_PROFILE=<dir> (V8 CPU profiles of the
 * product's processes; the top frames are printed), TOLLGATE_TEST_MYSQL_URL (use that MariaDB
 * server instead of starting a throwaway one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants as perfConstants } from 'node:perf_hooks';
import readline from 'node:readline';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { checkBooks, SCENARIOS } from '../support/calls';
import { DEFAULT_LOAD_SIZE, loadCallerCsv, loadCallerRows, seedLoadWorld } from '../support/load-fixture';
import { startMariaDb, testDatabaseUrl, TEST_MYSQL_ENV, type MariaDbServer } from '../support/mariadb';
import { freePort } from '../support/ports';
import { runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';

function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}
const flag = (name: string): boolean => process.argv.slice(2).includes(`--${name}`);

const QUICK = flag('quick');
const RATES = (option('rates') ?? process.env.BENCH_RATES ?? (QUICK ? '100,200,300' : '50,100,200,300,400,500')).split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const STEP_SECONDS = Number(option('step-seconds') ?? process.env.BENCH_STEP_SECONDS ?? (QUICK ? 12 : 60));
const SOAK_MINUTES = Number(option('soak-minutes') ?? process.env.BENCH_SOAK_MINUTES ?? (QUICK ? 0.75 : 10));
const SOAK_RATE = option('soak-rate') ? Number(option('soak-rate')) : undefined;
const APPLICATIONS = Math.max(1, Number(option('applications') ?? 1));
const BARE = !flag('no-bare');
/** How the product reaches the benchmark's own MariaDB: TCP on loopback (as the earlier figures) or its Unix socket. */
const DB_TRANSPORT = (option('db-transport') ?? process.env.BENCH_DB_TRANSPORT ?? 'tcp') === 'socket' ? 'socket' : 'tcp';
/** The memory step: this many live calls at once (long holds at a modest rate), for memory per live call where calls, not garbage, dominate. */
const MEMORY_LIVE = Number(option('memory-live') ?? process.env.BENCH_MEMORY_LIVE ?? (QUICK ? 2000 : 12000));
const MEMORY_RATE = Number(option('memory-rate') ?? process.env.BENCH_MEMORY_RATE ?? (QUICK ? 100 : 200));
/** The memory step before the rate steps (its figure then owes nothing to RSS the rate steps grew). */
const MEMORY_FIRST = flag('memory-first');
/**
 * The throwaway MariaDB's threads: its thread pool (`pool`, thread_handling=pool-of-threads, the
 * setting README recommends for a server that shares a small host with Tollgate) or a thread per
 * connection (`connection`, the server's own default).
 */
const DB_THREADS = (option('db-threads') ?? process.env.BENCH_DB_THREADS ?? 'pool') === 'connection' ? 'connection' : 'pool';
/** --node-args "--flag …": supervisor.nodeArgs, Node.js and V8 flags for the edge and the applications. */
const NODE_ARGS = (option('node-args') ?? '').split(' ').filter(Boolean);
/**
 * --gc-windows: every garbage collection of the edge and the applications is recorded (a preload,
 * test/bench/gc-events.ts, through supervisor.nodeArgs) and each step says how many of its slow
 * 100 ms windows of set-up hold a full collection, and the setup p99 without the calls in flight
 * during one.
 */
const GC_EVENTS_DIR = flag('gc-windows') ? fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-gc-')) : undefined;
/** The flags the product's processes get: --node-args, and the GC recorder with --gc-windows. */
const PRODUCT_NODE_ARGS = [...NODE_ARGS, ...(GC_EVENTS_DIR ? [`--require=${path.resolve(__dirname, 'gc-events.js')}`] : [])];
if (GC_EVENTS_DIR) process.on('exit', () => fs.rmSync(GC_EVENTS_DIR, { recursive: true, force: true }));
/** --product-nice N: the edge's and the applications' scheduling priority (nice; below 0 needs root). */
const PRODUCT_NICE = option('product-nice') !== undefined ? Number(option('product-nice')) : undefined;
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 1500);
const DB_POOL = Number(process.env.BENCH_DB_POOL ?? 40);
const CLK_TCK = 100;
const PROGRESS_MS = 5000;
const ADMIN_TOKEN = 'bench-token';
/** BENCH_PROFILE=<dir>: the product's processes write V8 CPU profiles there; the top frames are printed. */
const PROFILE_DIR = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : undefined;
/** A step counts as sustained only if SIPp placed its calls at least this close to the target rate. */
const RATE_TOLERANCE = 0.95;

// ---- processes -------------------------------------------------------------------------------

interface ProcSample { cpuTicks: number; mainThreadTicks: number; rssKb: number }

function sample(pid: number): ProcSample | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return { cpuTicks: statTicks(`/proc/${pid}/stat`), mainThreadTicks: statTicks(`/proc/${pid}/task/${pid}/stat`), rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) };
  } catch {
    return undefined;
  }
}

/** utime + stime of a /proc stat file (a process: all its threads; a task: that thread). */
function statTicks(file: string): number {
  const stat = fs.readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** /proc/pressure/cpu "some" total: µs during which at least one runnable task waited for a CPU. */
function cpuPressureUs(): number | undefined {
  try {
    const us = Number(/^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN);
    return Number.isFinite(us) ? us : undefined;
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

/** The edge and application processes are children of the supervisor (`tollgate start`); bounded wait. */
async function productPids(supervisor: number, applications: number): Promise<{ edge: number; apps: number[] }> {
  for (let i = 0; i < 100; i++) {
    const kids = procEntries().filter((p) => p.ppid === supervisor);
    const edge = kids.find((p) => p.cmdline[p.cmdline.length - 1] === 'edge')?.pid;
    const apps = kids.filter((p) => p.cmdline[p.cmdline.length - 1] === 'app').map((p) => p.pid).sort((a, b) => a - b);
    if (edge && apps.length === applications) return { edge, apps };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`edge and ${applications} application processes not found under supervisor ${supervisor}`);
}

function mariadbPid(port: number): number | undefined {
  return procEntries().find((p) => p.cmdline.some((a) => /mariadbd|mysqld/.test(path.basename(a))) && p.cmdline.includes(`--port=${port}`))?.pid;
}

// ---- the applications' own figures (admin API /metrics) ----------------------------------------

/** The figures read from one application's /metrics, each summed over its label sets. */
interface AppFigures {
  offered: number; live: number; failed: number; queries: number; poolWaitSum: number; poolWaitCount: number; lagP99: number; lagMax: number; heapUsed: number; heapAfterFullGc: number;
  /** What of the RSS is V8's heap as reserved from the system, and memory outside it held by JS objects (Buffers). */
  heapTotal: number; external: number;
  /** Garbage-collection pauses by kind (prom-client's nodejs_gc_duration_seconds): count and seconds. */
  gcCount: Record<string, number>; gcSeconds: Record<string, number>;
  /** The dial delay's histogram (tollgate_call_dial_delay_seconds): cumulative count by upper bound (s). */
  dialBuckets: Map<number, number>;
}

function parseMetrics(text: string): AppFigures {
  const f: AppFigures = { offered: 0, live: 0, failed: 0, queries: 0, poolWaitSum: 0, poolWaitCount: 0, lagP99: 0, lagMax: 0, heapUsed: 0, heapAfterFullGc: 0, heapTotal: 0, external: 0, gcCount: {}, gcSeconds: {}, dialBuckets: new Map() };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([\w:]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    switch (m[1]) {
      case 'tollgate_calls_offered_total': f.offered += v; break;
      case 'tollgate_calls_live': f.live += v; break;
      case 'tollgate_calls_refused_total': f.failed += v; break;
      // Refusals are counted above; these are admitted calls that did not reach an answer.
      case 'tollgate_calls_ended_total': if (!/disposition="(answered|refused)"/.test(m[2] ?? '')) f.failed += v; break;
      case 'tollgate_db_query_seconds_count': f.queries += v; break;
      case 'tollgate_db_pool_wait_seconds_sum': f.poolWaitSum += v; break;
      case 'tollgate_db_pool_wait_seconds_count': f.poolWaitCount += v; break;
      case 'tollgate_process_nodejs_eventloop_lag_p99_seconds': f.lagP99 = v; break;
      case 'tollgate_process_nodejs_eventloop_lag_max_seconds': f.lagMax = v; break;
      case 'tollgate_process_nodejs_heap_size_used_bytes': f.heapUsed = v; break;
      case 'tollgate_process_nodejs_heap_size_total_bytes': f.heapTotal = v; break;
      case 'tollgate_process_nodejs_external_memory_bytes': f.external = v; break;
      case 'tollgate_process_heap_used_after_full_gc_bytes': f.heapAfterFullGc = v; break;
      case 'tollgate_call_dial_delay_seconds_bucket': {
        const le = /le="([^"]+)"/.exec(m[2] ?? '')?.[1];
        if (le !== undefined) f.dialBuckets.set(le === '+Inf' ? Infinity : Number(le), v);
        break;
      }
      case 'tollgate_process_nodejs_gc_duration_seconds_count':
      case 'tollgate_process_nodejs_gc_duration_seconds_sum': {
        const kind = /kind="(\w+)"/.exec(m[2] ?? '')?.[1] ?? 'other';
        const into = m[1].endsWith('_count') ? f.gcCount : f.gcSeconds;
        into[kind] = (into[kind] ?? 0) + v;
        break;
      }
      default: break;
    }
  }
  return f;
}

/**
 * The q-quantile (ms) of what a cumulative histogram counted between two scrapes, interpolated
 * linearly in its bucket as Prometheus' histogram_quantile does; undefined with no observation.
 */
function bucketQuantile(q: number, first: Map<number, number> | undefined, last: Map<number, number> | undefined): number | undefined {
  if (!last) return undefined;
  const bounds = [...last.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (last.get(b) ?? 0) - (first?.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  const i = counts.findIndex((c) => c >= rank);
  const upper = bounds[i]!;
  const lower = i > 0 ? bounds[i - 1]! : 0;
  if (!Number.isFinite(upper)) return lower * 1000;
  const below = i > 0 ? counts[i - 1]! : 0;
  const inBucket = counts[i]! - below;
  return (lower + (upper - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000;
}

async function scrape(url: string): Promise<AppFigures | undefined> {
  try {
    const r = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(2000) });
    return r.ok ? parseMetrics(await r.text()) : undefined;
  } catch {
    return undefined;
  }
}

// ---- metering ----------------------------------------------------------------------------------

/** A metered process; `metricsUrl`: its Prometheus text (an application's admin API, the edge's metrics.edge listener). */
interface Watched { name: string; pid: number; metricsUrl?: string; app: boolean }

/** One window of metering (a step, the soak): CPU, RSS, the applications' figures. */
interface Window {
  startedAt: number;
  stoppedAt: number;
  firstTicks: Map<string, number>;
  lastTicks: Map<string, number>;
  /** The main thread's own ticks (a Node process: its event loop; the rest are GC, compiler and I/O threads). */
  firstMainTicks: Map<string, number>;
  lastMainTicks: Map<string, number>;
  peakRssKb: Map<string, number>;
  /** Peak live calls seen by each application, and by all together (for the edge and MariaDB). */
  peakLive: Map<string, number>;
  firstApp: Map<string, AppFigures>;
  lastApp: Map<string, AppFigures>;
  /** Worst event-loop lag p99 / max of each application over the window (ms). */
  lagP99Ms: Map<string, number>;
  lagMaxMs: Map<string, number>;
  /** RSS over time, for the soak's slope: [minutes since the start, KB]. */
  rssSeries: Map<string, Array<[number, number]>>;
  /** Each application's V8 heap in use (live objects and garbage not yet collected), with the live calls then. */
  heapSeries: Map<string, Array<[number, number, number]>>;
  /** Each application's heap in use just after its full collections: [minutes, KB], one point per collection. */
  fullGcHeapSeries: Map<string, Array<[number, number]>>;
  /** Each scraped process's V8 heap reserved and external memory over time: [minutes, KB, KB]. */
  memoryPartsSeries: Map<string, Array<[number, number, number]>>;
  /**
   * One point per sample (about a second apart): when, each process's CPU ticks, CPU pressure
   * (/proc/pressure/cpu "some", µs) and the whole machine's CPU ticks (/proc/stat, all cores).
   */
  samples: Array<{ at: number; ticks: Map<string, number>; pressureUs?: number; machine?: { busy: number; total: number } }>;
}

/** All cores together from /proc/stat's first line: busy ticks (all but idle and iowait) and total. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = sum(f);
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/**
 * What the processes did around one second of a step (SIPp counts its seconds from its start, a few
 * ms after the window's): CPU of each process, the machine, CPU pressure, over the samples that
 * cover that second and the one after it (a slow call is counted in the second it ended).
 */
function aroundSecond(w: Window, second: number, procs: string[]): string {
  const from = w.startedAt + second * 1000;
  const i = w.samples.findIndex((p) => p.at > from);
  const a = w.samples[Math.max(0, i - 1)];
  const b = w.samples[Math.min(w.samples.length - 1, Math.max(0, i) + 1)];
  if (i < 0 || !a || !b || b.at <= a.at) return '-';
  const wall = (b.at - a.at) / 1000;
  const pct = (n: string) => (((((b.ticks.get(n) ?? 0) - (a.ticks.get(n) ?? 0)) / CLK_TCK) / wall) * 100);
  const sipps = [...b.ticks.keys()].filter((n) => n.startsWith('sipp') && a.ticks.has(n));
  const cpu = `${procs.map((n) => `${n} ${fmt(pct(n), 0)}%`).join(' ')} SIPp ${fmt(sum(sipps.map(pct)), 0)}%`;
  const machine = a.machine && b.machine && b.machine.total > a.machine.total
    ? fmt(((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * os.cpus().length, 2) : '-';
  const psi = a.pressureUs !== undefined && b.pressureUs !== undefined ? fmt(((b.pressureUs - a.pressureUs) / 1000 / (b.at - a.at)) * 100, 0) : '-';
  return `over ${fmt(wall, 1)} s from second ${fmt((a.at - w.startedAt) / 1000, 1)}: cpu ${cpu}; machine busy ${machine} cores; a task waiting for a CPU ${psi} % of the time`;
}

/** Share of the window's time during which at least one runnable task waited for a CPU (%). */
function cpuPressurePercent(w: Window): number | undefined {
  const a = w.samples[0];
  const b = w.samples[w.samples.length - 1];
  if (a?.pressureUs === undefined || b?.pressureUs === undefined || b.at <= a.at) return undefined;
  return ((b.pressureUs - a.pressureUs) / 1000 / (b.at - a.at)) * 100;
}

/** The main thread's CPU over the window, in % of a core. */
function mainThreadPercent(w: Window, name: string): number | undefined {
  const a = w.firstMainTicks.get(name);
  const b = w.lastMainTicks.get(name);
  if (a === undefined || b === undefined) return undefined;
  return ((b - a) / CLK_TCK) / ((w.stoppedAt - w.startedAt) / 1000) * 100;
}

/** Share of the whole machine in use over the window, in cores (2.0 = both cores full on a 2-core machine). */
function machineCoresBusy(w: Window): number | undefined {
  const a = w.samples[0]?.machine;
  const b = w.samples[w.samples.length - 1]?.machine;
  if (!a || !b || b.total <= a.total) return undefined;
  return ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length;
}

class Meter {
  private readonly watched: Watched[] = [];
  private readonly idleRssKb = new Map<string, number>();
  private window: Window | undefined;
  private timer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  watch(name: string, pid: number | undefined, metricsUrl?: string, app = metricsUrl !== undefined): void { if (pid) this.watched.push({ name, pid, metricsUrl, app }); }
  unwatch(name: string): void { const i = this.watched.findIndex((w) => w.name === name); if (i >= 0) this.watched.splice(i, 1); }
  names(): string[] { return this.watched.map((w) => w.name); }
  /** The name of each watched process by its pid. */
  pidNames(): Map<number, string> { return new Map(this.watched.map((w) => [w.pid, w.name])); }
  apps(): string[] { return this.watched.filter((w) => w.app).map((w) => w.name); }
  /** The processes whose metrics are read: the applications, and the edge when it serves its own. */
  scraped(): string[] { return this.watched.filter((w) => w.metricsUrl).map((w) => w.name); }

  /** The RSS of each watched process now, as its idle figure for memory per call. */
  recordIdle(): void {
    for (const w of this.watched) if (!this.idleRssKb.has(w.name)) this.idleRssKb.set(w.name, sample(w.pid)?.rssKb ?? 0);
  }
  idleKb(name: string): number | undefined { return this.idleRssKb.get(name); }

  async start(progress?: (line: string) => void): Promise<void> {
    this.window = {
      startedAt: Date.now(), stoppedAt: 0, firstTicks: new Map(), lastTicks: new Map(), firstMainTicks: new Map(), lastMainTicks: new Map(), samples: [], peakRssKb: new Map(), peakLive: new Map(),
      firstApp: new Map(), lastApp: new Map(), lagP99Ms: new Map(), lagMaxMs: new Map(), rssSeries: new Map(), heapSeries: new Map(), fullGcHeapSeries: new Map(), memoryPartsSeries: new Map(),
    };
    await this.tick();
    this.timer = setInterval(() => { this.ticking ??= this.tick().finally(() => { this.ticking = undefined; }); }, 1000);
    if (progress) this.progressTimer = setInterval(() => progress(this.progressLine()), PROGRESS_MS);
  }

  async stop(): Promise<Window> {
    clearInterval(this.timer);
    clearInterval(this.progressTimer);
    await this.ticking;
    await this.tick();
    const w = this.window!;
    w.stoppedAt = Date.now();
    return w;
  }

  private async tick(): Promise<void> {
    const w = this.window;
    if (!w) return;
    const minutes = (Date.now() - w.startedAt) / 60_000;
    const point = { at: Date.now(), ticks: new Map<string, number>(), pressureUs: cpuPressureUs(), machine: machineTicks() };
    w.samples.push(point);
    for (const p of this.watched) {
      const s = sample(p.pid);
      if (!s) continue;
      if (!w.firstTicks.has(p.name)) w.firstTicks.set(p.name, s.cpuTicks);
      w.lastTicks.set(p.name, s.cpuTicks);
      point.ticks.set(p.name, s.cpuTicks);
      if (!w.firstMainTicks.has(p.name)) w.firstMainTicks.set(p.name, s.mainThreadTicks);
      w.lastMainTicks.set(p.name, s.mainThreadTicks);
      w.peakRssKb.set(p.name, Math.max(w.peakRssKb.get(p.name) ?? 0, s.rssKb));
      const series = w.rssSeries.get(p.name) ?? [];
      series.push([minutes, s.rssKb]);
      w.rssSeries.set(p.name, series);
    }
    const apps = this.watched.filter((p) => p.metricsUrl);
    const figures = await Promise.all(apps.map((p) => scrape(p.metricsUrl!)));
    let live = 0;
    apps.forEach((p, i) => {
      const f = figures[i];
      if (!f) return;
      if (!w.firstApp.has(p.name)) w.firstApp.set(p.name, f);
      w.lastApp.set(p.name, f);
      const parts = w.memoryPartsSeries.get(p.name) ?? [];
      parts.push([minutes, f.heapTotal / 1024, f.external / 1024]);
      w.memoryPartsSeries.set(p.name, parts);
      w.lagP99Ms.set(p.name, Math.max(w.lagP99Ms.get(p.name) ?? 0, f.lagP99 * 1000));
      w.lagMaxMs.set(p.name, Math.max(w.lagMaxMs.get(p.name) ?? 0, f.lagMax * 1000));
      const afterGc = w.fullGcHeapSeries.get(p.name) ?? [];
      if (f.heapAfterFullGc > 0 && afterGc[afterGc.length - 1]?.[1] !== f.heapAfterFullGc / 1024) afterGc.push([minutes, f.heapAfterFullGc / 1024]);
      w.fullGcHeapSeries.set(p.name, afterGc);
      if (!p.app) return; // the edge: no calls of its own to count
      live += f.live;
      w.peakLive.set(p.name, Math.max(w.peakLive.get(p.name) ?? 0, f.live));
      const heap = w.heapSeries.get(p.name) ?? [];
      heap.push([minutes, f.heapUsed / 1024, f.live]);
      w.heapSeries.set(p.name, heap);
    });
    w.peakLive.set('all', Math.max(w.peakLive.get('all') ?? 0, live));
    w.peakLive.set('now', live);
  }

  private progressLine(): string {
    const w = this.window!;
    const seconds = (Date.now() - w.startedAt) / 1000;
    const d = (k: 'offered' | 'failed') => sum(this.apps().map((a) => (w.lastApp.get(a)?.[k] ?? 0) - (w.firstApp.get(a)?.[k] ?? 0)));
    const cpu = this.watched.filter((p) => !p.name.startsWith('sipp')).map((p) => `${p.name} ${fmt(cpuPercent(w, p.name, Date.now()), 0)}%`).join(' ');
    // The bare B2BUA has no application metrics: its calls are counted by SIPp at the step's end.
    if (this.apps().length === 0) return `  .. ${seconds.toFixed(0)} s: cpu ${cpu}`;
    return `  .. ${seconds.toFixed(0)} s: offered ${d('offered')} (${(d('offered') / Math.max(1, seconds)).toFixed(0)} calls/s), live ${w.peakLive.get('now') ?? '-'}, failed ${d('failed')}, cpu ${cpu}`;
  }
}

function cpuPercent(w: Window, name: string, until = w.stoppedAt): number | undefined {
  const a = w.firstTicks.get(name);
  const b = w.lastTicks.get(name);
  if (a === undefined || b === undefined) return undefined;
  return ((b - a) / CLK_TCK) / ((until - w.startedAt) / 1000) * 100;
}

function cpuMsPerCall(w: Window, name: string, calls: number): number | undefined {
  const a = w.firstTicks.get(name);
  const b = w.lastTicks.get(name);
  if (a === undefined || b === undefined || calls === 0) return undefined;
  return ((b - a) * (1000 / CLK_TCK)) / calls;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = sum(points.map((p) => p[0])) / n;
  const my = sum(points.map((p) => p[1])) / n;
  const sxx = sum(points.map((p) => (p[0] - mx) ** 2));
  return sxx === 0 ? NaN : sum(points.map((p) => (p[0] - mx) * (p[1] - my))) / sxx;
}

// ---- figures ---------------------------------------------------------------------------------

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (n: number | undefined, digits = 1): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `machine: ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}, load average ${load}`;
}

/** What SIPp's callers did in one window. */
interface CallerResult {
  placed: number; successful: number; failed: number; target: number; retransmissions: number; achievedRate: number; p50: number; p99: number; max: number; why: string[];
  /** The setup latency second by second: is the tail spread over the step or a few bursts? */
  bySecond: LatencyBySecond;
  /** Each sampled call's start (epoch ms: SIPp's start plus the sample's time minus its set-up) and set-up (ms). */
  setups: { startMs: number[]; ms: number[] };
}

/** Per-second p99 of the setup latency over a step (samples bucketed by the second SIPp took them in). */
interface LatencyBySecond {
  seconds: number; medianP99: number; over100: number; slowInWorst5: number; slow: number;
  /** The three worst seconds, worst first: [second, p99 ms]. */
  worst: Array<readonly [number, number]>;
}

/** `rtt[i]` was taken at `at[i]` (ms since its SIPp started; the callers start within a few ms of each other). */
function latencyBySecond(rtt: number[], at: number[]): LatencyBySecond {
  const buckets = new Map<number, number[]>();
  rtt.forEach((ms, i) => {
    const s = Math.floor((at[i] ?? NaN) / 1000);
    if (!Number.isFinite(s)) return;
    let b = buckets.get(s);
    if (!b) buckets.set(s, b = []);
    b.push(ms);
  });
  const p99s = [...buckets.entries()].filter(([, b]) => b.length >= 10).map(([s, b]) => [s, percentile(b.sort((x, y) => x - y), 99)] as const);
  const sorted = p99s.map(([, p]) => p).sort((a, b) => a - b);
  // Of the calls slower than 100 ms, how many fell in the five worst seconds: bursts, or spread out.
  const slowBySecond = [...buckets.entries()].map(([s, b]) => [s, b.filter((ms) => ms > 100).length] as const).sort((a, b) => b[1] - a[1]);
  const slow = sum(slowBySecond.map(([, n]) => n));
  return {
    seconds: p99s.length, medianP99: percentile(sorted, 50),
    over100: sorted.filter((p) => p > 100).length, slowInWorst5: sum(slowBySecond.slice(0, 5).map(([, n]) => n)), slow,
    worst: [...p99s].sort((a, b) => b[1] - a[1]).slice(0, 3),
  };
}

/** SIPp's start (epoch ms) from its statistics' StartTime ("date<TAB>time<TAB>epoch seconds"). */
function sippStartMs(r: SippResult): number {
  return Number((r.stats.row['StartTime'] ?? '').split('\t')[2]) * 1000;
}

function callStarts(results: SippResult[]): { startMs: number[]; ms: number[] } {
  const startMs: number[] = [];
  const ms: number[] = [];
  for (const r of results) {
    const t0 = sippStartMs(r);
    if (!Number.isFinite(t0)) continue;
    r.rtt.forEach((setup, i) => {
      const at = r.rttAt[i];
      if (at === undefined || !Number.isFinite(at)) return;
      startMs.push(t0 + at - setup);
      ms.push(setup);
    });
  }
  return { startMs, ms };
}

/** One garbage collection of a product process, from the --gc-windows recorder. */
interface GcEvent {
  process: string; startMs: number; pauseMs: number;
  /** A pause of a full collection: its mark-compact, or the finalisation of its incremental marking. */
  full: boolean;
  /** The mark-compact pause itself: one per full collection. */
  markCompact: boolean;
}

/** The recorder's files of the watched processes (a process restarted under a new pid is left out). */
function readGcEvents(dir: string, names: Map<number, string>): GcEvent[] {
  const out: GcEvent[] = [];
  for (const f of fs.readdirSync(dir)) {
    const name = names.get(Number(path.basename(f, '.log')));
    if (!name) continue;
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const [t, d, k] = line.split(' ').map(Number);
      if (!Number.isFinite(t) || !Number.isFinite(d)) continue;
      const markCompact = k === perfConstants.NODE_PERFORMANCE_GC_MAJOR;
      out.push({ process: name, startMs: t!, pauseMs: d!, full: markCompact || k === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, markCompact });
    }
  }
  return out;
}

const GC_WINDOW_MS = 100;
/** A call counts as in flight during a pause if it started at most this long before the pause ended. */
const GC_IN_FLIGHT_MS = 200;

/**
 * Where the setup tail of a step sits against the full collections: the 100 ms windows (by the
 * calls' start) whose p90 set-up is 100 ms or more, how many of them hold the pause of a full
 * collection of a product process (or its 200 ms before), the setup p99 of the calls in flight
 * during a full collection against that of all the others, and how many of the calls over 100 ms
 * were in flight during one.
 */
function gcWindowsLine(setups: { startMs: number[]; ms: number[] }, events: GcEvent[]): string {
  if (setups.startMs.length === 0) return '-';
  const from = setups.startMs.reduce((a, b) => Math.min(a, b), Infinity);
  const to = setups.startMs.reduce((a, b) => Math.max(a, b), -Infinity);
  const full = events.filter((e) => e.full && e.startMs >= from && e.startMs <= to + GC_WINDOW_MS);
  const windows = new Map<number, number[]>();
  const near: number[] = [];
  const others: number[] = [];
  setups.startMs.forEach((start, i) => {
    const ms = setups.ms[i]!;
    const w = Math.floor((start - from) / GC_WINDOW_MS);
    let b = windows.get(w);
    if (!b) windows.set(w, b = []);
    b.push(ms);
    const inFlight = full.some((e) => start <= e.startMs + e.pauseMs && start >= e.startMs + e.pauseMs - GC_IN_FLIGHT_MS);
    (inFlight ? near : others).push(ms);
  });
  const counted = [...windows.entries()].filter(([, b]) => b.length >= 10);
  const slow = counted.filter(([, b]) => percentile(b.sort((x, y) => x - y), 90) >= 100).map(([w]) => w);
  const holding = new Map<string, number>();
  let held = 0;
  for (const w of slow) {
    const lo = from + w * GC_WINDOW_MS;
    const hit = full.filter((e) => e.startMs + e.pauseMs >= lo && e.startMs <= lo + GC_WINDOW_MS + GC_IN_FLIGHT_MS);
    if (hit.length === 0) continue;
    held++;
    for (const p of new Set(hit.map((e) => e.process))) holding.set(p, (holding.get(p) ?? 0) + 1);
  }
  const byProcess = [...new Set(full.map((e) => e.process))].sort().map((p) => {
    const pauses = full.filter((e) => e.process === p && e.markCompact).map((e) => e.pauseMs);
    if (pauses.length === 0) return `${p} 0`;
    return `${p} ${pauses.length} (pause mean ${fmt(sum(pauses) / pauses.length, 1)}, max ${fmt(Math.max(...pauses), 1)} ms)`;
  });
  near.sort((a, b) => a - b);
  others.sort((a, b) => a - b);
  const over = (list: number[]): number => list.filter((ms) => ms > 100).length;
  return `${slow.length} of ${counted.length} windows of ${GC_WINDOW_MS} ms with a p90 set-up of 100 ms or more; `
    + `${held} of them hold a full collection (${[...holding.entries()].map(([p, n]) => `${p} ${n}`).join(', ') || '-'}); `
    + `full collections in the step (their mark-compact pause): ${byProcess.join(', ') || 'none'}; setup p99 of the ${near.length} calls in flight during one `
    + `${fmt(percentile(near, 99), 0)} ms, of the other ${others.length} ${fmt(percentile(others, 99), 0)} ms; `
    + `of the ${over(near) + over(others)} calls over 100 ms, ${over(near)} were in flight during one`;
}

function bySecondLine(b: LatencyBySecond): string {
  if (b.seconds === 0) return 'setup p99 by second: -';
  const [worstSecond, worstP99] = b.worst[0]!;
  return `setup p99 by second: median ${fmt(b.medianP99, 0)} ms, worst ${fmt(worstP99, 0)} ms (second ${worstSecond}), `
    + `${b.over100} of ${b.seconds} seconds over 100 ms; calls over 100 ms: ${b.slow}, ${b.slow > 0 ? fmt((100 * b.slowInWorst5) / b.slow, 0) : '-'} % of them in the 5 worst seconds`;
}

interface StepResult extends CallerResult {
  rate: number;
  cdrs: number;
  cdrWaitMs: number;
  dbLine: string;
  window: Window;
  statementsPerCall: number;
  ok: boolean;
}

// ---- the product, quiet ----------------------------------------------------------------------

interface QuietProduct {
  sipPort: number;
  supervisor: number;
  pids: { edge: number; apps: number[] };
  metricsUrls: string[];
  /** The edge's own /metrics (metrics.edge): its event loop, GC and heap. */
  edgeMetricsUrl: string;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * `tollgate start` with log level warn and the admin API on (its /metrics are read during the
 * steps). test/support/product.ts's startProduct waits for the info line "application started",
 * which a warn-level product never prints; so this starts the same CLI with the same kind of
 * config and takes every application's /metrics answering, then a first answered call, as the
 * sign of readiness.
 */
async function startQuietProduct(databaseUrl: string, csv: string, dir: string): Promise<QuietProduct> {
  const sipPort = await freePort('both');
  const controlPort = await freePort('tcp');
  const edgeMetricsPort = await freePort('tcp');
  // Application n serves its admin API on adminPort + n - 1: consecutive free ports.
  let adminPort = await freePort('tcp');
  for (let attempt = 0; attempt < 20 && APPLICATIONS > 1; attempt++) {
    const ports = await Promise.all(Array.from({ length: APPLICATIONS - 1 }, (_, i) => portFree(adminPort + i + 1)));
    if (ports.every(Boolean)) break;
    adminPort = await freePort('tcp');
  }
  const config = {
    dataDir: dir,
    edge: {
      sip: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }, { transport: 'tcp', address: '127.0.0.1', port: sipPort }],
      control: { address: '127.0.0.1', port: controlPort, secret: 'bench' },
      appDisconnectGraceSeconds: 5,
    },
    drachtio: { mode: 'embedded', host: '127.0.0.1', port: controlPort, secret: 'bench' },
    database: { dialect: 'mysql', url: databaseUrl, pool: { max: DB_POOL, min: 0, acquireMs: 10_000, idleMs: 60_000 } },
    log: { level: 'warn', format: 'json' },
    rating: { timeZone: 'UTC' },
    calls: { drainSeconds: 5, noAnswerSeconds: 30 },
    // Left out for one application, so the benchmark also runs against a product without the setting.
    ...(APPLICATIONS > 1 || PRODUCT_NODE_ARGS.length > 0
      ? { supervisor: { ...(APPLICATIONS > 1 ? { applications: APPLICATIONS } : {}), ...(PRODUCT_NODE_ARGS.length > 0 ? { nodeArgs: PRODUCT_NODE_ARGS } : {}) } } : {}),
    admin: { enabled: true, address: '127.0.0.1', port: adminPort, token: ADMIN_TOKEN },
    metrics: { edge: { enabled: true, address: '127.0.0.1', port: edgeMetricsPort } },
  };
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: configFile, ...(GC_EVENTS_DIR ? { BENCH_GC_EVENTS_DIR: GC_EVENTS_DIR } : {}) };
  delete env[TEST_MYSQL_ENV];
  const cli = path.resolve(__dirname, '../../app/cli.js');
  const logs: string[] = [];
  const collect = (d: Buffer) => { for (const l of d.toString().split('\n')) if (l.trim()) logs.push(l); if (logs.length > 5000) logs.splice(0, logs.length - 5000); };
  // Profiling runs the processes directly (V8 takes --cpu-prof on the command line only).
  const launch = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const c = spawn(process.execPath, [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, ...PRODUCT_NODE_ARGS] : []), cli, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);
    return { child: c, exited: new Promise<void>((resolve) => c.once('exit', () => resolve())) };
  };
  const children = PROFILE_DIR ? [launch(['edge'])] : [launch(['start'])];
  if (PROFILE_DIR) {
    await new Promise((r) => setTimeout(r, 500));
    for (let n = 1; n <= APPLICATIONS; n++) children.push(launch(['app'], APPLICATIONS > 1 ? { TOLLGATE_APPLICATION_NUMBER: String(n) } : {}));
  }
  const child = children[0]!.child;
  const stop = async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM');
    const killer = setTimeout(() => { for (const c of children) c.child.kill('SIGKILL'); }, 30_000);
    await Promise.all(children.map((c) => c.exited));
    clearTimeout(killer);
  };
  const metricsUrls = Array.from({ length: APPLICATIONS }, (_, i) => `http://127.0.0.1:${adminPort + i}/metrics`);
  const pids = async () => (PROFILE_DIR ? { edge: children[0]!.child.pid!, apps: children.slice(1).map((c) => c.child.pid!) } : productPids(child.pid!, APPLICATIONS));
  for (let attempt = 0; attempt < 60; attempt++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
    if ((await Promise.all(metricsUrls.map(scrape))).some((f) => f === undefined)) continue;
    const r = await runSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-caller-hangs-up.xml') }, transport: 'udp', target: `127.0.0.1:${sipPort}`,
      calls: 1, durationMs: 100, injection: csv, timeoutMs: 10_000, extraArgs: ['-recv_timeout', '5000'],
    });
    if (r.exitCode === 0 && r.stats.successful === 1) {
      return { sipPort, supervisor: child.pid!, pids: await pids(), metricsUrls, edgeMetricsUrl: `http://127.0.0.1:${edgeMetricsPort}/metrics`, logs, stop };
    }
  }
  await stop();
  throw new Error(`tollgate did not answer a first call within 30 s; last lines:\n${logs.slice(-20).join('\n')}`);
}

async function portFree(port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// ---- the bare B2BUA --------------------------------------------------------------------------

interface BareB2bua { sipPort: number; edgePid: number; b2buaPid: number; stop(): Promise<void> }

/** An edge of its own (test/support/edge-process) with the bare B2BUA of bench:edge as its application. */
async function startBareB2bua(farEnd: string): Promise<BareB2bua> {
  const started: ChildProcess[] = [];
  const readyLine = (c: ChildProcess) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const lines = readline.createInterface({ input: c.stdout! });
    lines.on('line', (l) => { try { const j = JSON.parse(l) as Record<string, unknown>; if (j.ready) resolve(j); } catch { /* not ours */ } });
    c.once('exit', (code) => reject(new Error(`exited ${code} before ready`)));
    setTimeout(() => reject(new Error('not ready within 20 s')), 20_000).unref();
  });
  const stop = async () => {
    await Promise.all(started.reverse().map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) { resolve(); return; }
      const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      c.once('exit', () => { clearTimeout(killer); resolve(); });
      c.kill('SIGTERM');
    })));
  };
  try {
    const sipPort = await freePort('both');
    const edgeOptions = {
      sip: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }, { transport: 'tcp', address: '127.0.0.1', port: sipPort }],
      control: { address: '127.0.0.1', port: 0, secret: 'bench' },
    };
    const edge = spawn(process.execPath, [path.resolve(__dirname, '../support/edge-process.js'), JSON.stringify(edgeOptions)], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(edge);
    const ready = await readyLine(edge) as { controlPort: number };
    const b2bua = spawn(process.execPath, [path.resolve(__dirname, 'bare-b2bua.js'), String(ready.controlPort), 'bench', farEnd], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(b2bua);
    await readyLine(b2bua);
    return { sipPort, edgePid: edge.pid!, b2buaPid: b2bua.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
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

interface CallerCtx { sipPort: number; csv: string; csvTcp: string; meter: Meter }

/** Both SIPp callers (UDP and TCP, half the rate each) for `seconds`, metered, with progress lines. */
async function runCallers(rate: number, seconds: number, ctx: CallerCtx, label: string, holdMs = HOLD_MS): Promise<{ caller: CallerResult; window: Window }> {
  const udpRate = Math.ceil(rate / 2);
  const legs = [{ transport: 'udp' as const, rate: udpRate }, { transport: 'tcp' as const, rate: rate - udpRate }].filter((l) => l.rate > 0);
  const t0 = Date.now();
  await ctx.meter.start((line) => console.log(line));
  const callers: Array<{ transport: string; sipp: SippProcess }> = [];
  for (const leg of legs) {
    const sipp = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-caller-hangs-up.xml') }, transport: leg.transport, target: `127.0.0.1:${ctx.sipPort}`,
      rate: leg.rate, calls: Math.round(leg.rate * seconds), durationMs: holdMs, injection: leg.transport === 'tcp' ? ctx.csvTcp : ctx.csv, rtt: true,
      timeoutMs: seconds * 1000 + holdMs + 120_000,
      extraArgs: ['-recv_timeout', '32000', '-max_socket', '2000'],
    });
    callers.push({ transport: leg.transport, sipp });
    ctx.meter.watch(`sipp-caller-${leg.transport}`, sipp.child.pid);
  }
  const results: SippResult[] = await Promise.all(callers.map((c) => c.sipp.done));
  const elapsed = (Date.now() - t0) / 1000;
  const window = await ctx.meter.stop();
  for (const c of callers) ctx.meter.unwatch(`sipp-caller-${c.transport}`);
  const placed = sum(results.map((r) => r.stats.created));
  const successful = sum(results.map((r) => r.stats.successful));
  const failed = sum(results.map((r) => r.stats.failed));
  const target = sum(legs.map((l) => Math.round(l.rate * seconds)));
  const bySecond = latencyBySecond(results.flatMap((r) => r.rtt), results.flatMap((r) => r.rttAt));
  const setups = callStarts(results);
  const rtt = results.flatMap((r) => r.rtt).sort((a, b) => a - b);
  // Calls are created over (elapsed − hold − setup); this is the rate SIPp actually reached.
  const achievedRate = placed / Math.max(1, elapsed - holdMs / 1000 - (rtt[rtt.length - 1] ?? 0) / 1000);
  const why: string[] = [];
  results.forEach((r, i) => { if (r.exitCode !== 0) why.push(`SIPp ${callers[i]!.transport} exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}`); });
  if (failed > 0) why.push(`${failed} failed calls`);
  if (placed < target || successful < target) why.push(`${successful} of ${target} calls completed`);
  if (achievedRate < rate * RATE_TOLERANCE) why.push(`SIPp reached only ${achievedRate.toFixed(0)} calls/s`);
  if (why.length > 0) {
    for (const [i, r] of results.entries()) {
      if (r.exitCode !== 0) console.log(`  ${label}: SIPp ${callers[i]!.transport} tail:\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-500)}`);
    }
  }
  return {
    caller: {
      placed, successful, failed, target, retransmissions: sum(results.map((r) => r.stats.retransmissions)), achievedRate,
      p50: percentile(rtt, 50), p99: percentile(rtt, 99), max: rtt[rtt.length - 1] ?? NaN, why, bySecond, setups,
    },
    window,
  };
}

interface ProductCtx extends CallerCtx { db: Database }

/** One product step (or the soak): callers, then every CDR, MariaDB's counters and the applications' figures. */
async function runProductWindow(rate: number, seconds: number, ctx: ProductCtx, label: string, holdMs = HOLD_MS): Promise<StepResult> {
  const cdrsBefore = await countCdrs(ctx.db);
  const statusBefore = await dbStatus(ctx.db);
  const { caller, window } = await runCallers(rate, seconds, ctx, label, holdMs);
  const statusAfter = await dbStatus(ctx.db);
  const delta = (k: string) => (statusAfter[k] ?? 0) - (statusBefore[k] ?? 0);
  const placed = caller.placed;
  const perCall = (k: string) => (placed > 0 ? (delta(k) / placed).toFixed(1) : '-');
  const dbLine = `MariaDB statements/call ${perCall('Questions')} (select ${perCall('Com_select')}, insert ${perCall('Com_insert')}, update ${perCall('Com_update')}, commit ${perCall('Com_commit')}), `
    + `row-lock waits ${delta('Innodb_row_lock_waits')} (${delta('Innodb_row_lock_time')} ms), max connections used ${statusAfter.Max_used_connections ?? '-'}`;
  const { n: cdrNow, ms } = await waitForCdrs(ctx.db, cdrsBefore + placed, 60_000);
  const cdrs = cdrNow - cdrsBefore;
  const why = [...caller.why];
  if (cdrs !== placed) why.push(`${cdrs} CDRs for ${placed} calls`);
  const apps = ctx.meter.apps();
  const queries = sum(apps.map((a) => (window.lastApp.get(a)?.queries ?? 0) - (window.firstApp.get(a)?.queries ?? 0)));
  return { ...caller, why, rate, cdrs, cdrWaitMs: ms, dbLine, window, statementsPerCall: placed > 0 ? queries / placed : NaN, ok: why.length === 0 };
}

/** Per process: CPU-ms per call, CPU %, memory per live call; then where calls queue. */
function printWindow(r: StepResult, meter: Meter): void {
  const w = r.window;
  const procs = meter.names().filter((n) => !n.startsWith('sipp'));
  const rows = procs.map((n) => {
    const live = meter.apps().includes(n) ? w.peakLive.get(n) ?? 0 : w.peakLive.get('all') ?? 0;
    const grownKb = Math.max(0, (w.peakRssKb.get(n) ?? 0) - (meter.idleKb(n) ?? 0));
    return `${n} ${fmt(cpuMsPerCall(w, n, r.placed), 2)} ms/call (${fmt(cpuPercent(w, n), 0)}%), ${live > 0 ? fmt(grownKb / live, 1) : '-'} KB/live call (RSS ${fmt((w.peakRssKb.get(n) ?? 0) / 1024, 0)} MB, idle ${fmt((meter.idleKb(n) ?? 0) / 1024, 0)}, peak live ${live})`;
  });
  const product = sum(procs.map((n) => cpuMsPerCall(w, n, r.placed) ?? 0));
  console.log(`  cpu and memory: ${rows.join('; ')}; product total ${fmt(product, 2)} CPU-ms/call`);
  const gcPauses = (name: string): string => ['major', 'minor', 'incremental'].map((kind) => {
    const count = (w.lastApp.get(name)?.gcCount[kind] ?? 0) - (w.firstApp.get(name)?.gcCount[kind] ?? 0);
    const seconds = (w.lastApp.get(name)?.gcSeconds[kind] ?? 0) - (w.firstApp.get(name)?.gcSeconds[kind] ?? 0);
    return `${kind} ${count} (${fmt(seconds * 1000, 0)} ms${count > 0 ? `, mean ${fmt((seconds * 1000) / count, 1)}` : ''})`;
  }).join(', ');
  const loop = (name: string): string => `event-loop lag p99 ${fmt(w.lagP99Ms.get(name), 1)} ms (max ${fmt(w.lagMaxMs.get(name), 0)} ms)`;
  const queues = meter.scraped().map((a) => {
    if (!meter.apps().includes(a)) return `${a}: ${loop(a)}, GC pauses ${gcPauses(a)}`;
    const first = w.firstApp.get(a);
    const last = w.lastApp.get(a);
    const n = (last?.poolWaitCount ?? 0) - (first?.poolWaitCount ?? 0);
    const ms = n > 0 ? (((last?.poolWaitSum ?? 0) - (first?.poolWaitSum ?? 0)) / n) * 1000 : NaN;
    const dial = [0.5, 0.9, 0.99].map((q) => fmt(bucketQuantile(q, first?.dialBuckets, last?.dialBuckets), 1)).join(' / ');
    return `${a}: ${loop(a)}, dial delay p50/p90/p99 ${dial} ms, pool wait mean ${fmt(ms, 2)} ms over ${n} acquires, GC pauses ${gcPauses(a)}`;
  });
  console.log(`  queues: ${queues.join('; ')}`);
  const cores = machineCoresBusy(w);
  const productCores = sum(procs.map((n) => cpuPercent(w, n) ?? 0)) / 100;
  console.log(`  latency: ${bySecondLine(r.bySecond)}`);
  for (const [second, p99] of r.bySecond.worst) console.log(`    second ${second} (p99 ${fmt(p99, 0)} ms): ${aroundSecond(w, second, procs)}`);
  if (GC_EVENTS_DIR) console.log(`  gc: ${gcWindowsLine(r.setups, readGcEvents(GC_EVENTS_DIR, meter.pidNames()))}`);
  const sippCores = sum(meter.names().filter((n) => n.startsWith('sipp')).map((n) => cpuPercent(w, n) ?? 0)) / 100;
  console.log(`  machine: busy ${fmt(cores, 2)} of ${os.cpus().length} cores (product ${fmt(productCores, 2)}, SIPp ${fmt(sippCores, 2)}, the rest `
    + `${fmt(cores === undefined ? undefined : cores - productCores - sippCores, 2)}); a task waiting for a CPU ${fmt(cpuPressurePercent(w), 0)} % of the time; `
    + `main threads: ${procs.filter((n) => n !== 'mariadb').map((n) => `${n} ${fmt(mainThreadPercent(w, n), 0)}%`).join(', ')}`);
  console.log(`  database: application statements/call ${fmt(r.statementsPerCall, 1)}; ${r.dbLine}`);
}

function productCpuPerCall(w: Window, meter: Meter, calls: number): number {
  return sum(meter.names().filter((n) => !n.startsWith('sipp')).map((n) => cpuMsPerCall(w, n, calls) ?? 0));
}

async function main(): Promise<void> {
  console.log('Tollgate full-product load benchmark');
  console.log(machine());
  console.log(`steps: ${RATES.join(', ')} calls/s, ${STEP_SECONDS} s each, hold ${HOLD_MS} ms, DB pool ${DB_POOL}, ${APPLICATIONS} application process(es)${NODE_ARGS.length > 0 ? `, node flags ${NODE_ARGS.join(' ')}` : ''}${GC_EVENTS_DIR ? ', garbage collections recorded' : ''}; `
    + `bare B2BUA step ${BARE ? 'yes' : 'no'}; soak ${SOAK_MINUTES} min${QUICK ? ' (quick)' : ''}`);

  let mariadb: MariaDbServer | undefined;
  let db: Database | undefined;
  let product: QuietProduct | undefined;
  let bare: BareB2bua | undefined;
  const farEnds: SippProcess[] = [];
  // Ctrl-C or a kill: stop what the run started (mariadbd ignores the terminal's SIGINT).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`${signal}: stopping the product, the far ends and MariaDB`);
      void Promise.allSettled([product?.stop(), bare?.stop(), ...farEnds.map((f) => f.stop())])
        .then(() => {
          // If the supervisor had to be killed, its children are ended here.
          for (const pid of [...(product?.pids.apps ?? []), product?.pids.edge]) {
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
      mariadb = await startMariaDb({ serverArgs: [`--thread-handling=${DB_THREADS === 'pool' ? 'pool-of-threads' : 'one-thread-per-connection'}`] });
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

    // The product's url: loopback TCP, or the throwaway server's Unix socket when asked for; a
    // server of TOLLGATE_TEST_MYSQL_URL is reached as that url says.
    const productUrl = mariadb && DB_TRANSPORT === 'socket' ? `${url}?socket=${encodeURIComponent(mariadb.socketPath)}` : url;
    console.log(`database: MariaDB ${mariadb ? `throwaway (${DB_THREADS === 'pool' ? 'thread pool' : 'a thread per connection'})` : 'from ' + TEST_MYSQL_ENV}, the product connects over ${productUrl.includes('?socket=') ? 'its Unix socket' : 'TCP'}`);
    product = await startQuietProduct(productUrl, csv, tmp);
    const pids = product.pids;
    const meter = new Meter();
    if (PRODUCT_NICE !== undefined) {
      for (const pid of [pids.edge, ...pids.apps]) {
        try {
          os.setPriority(pid, PRODUCT_NICE);
        } catch (err) {
          throw new Error(`--product-nice ${PRODUCT_NICE}: could not set the priority of process ${pid} (a value below 0 needs root): ${String(err)}`);
        }
      }
      console.log(`product: edge and application(s) at nice ${PRODUCT_NICE}`);
    }
    meter.watch('edge', pids.edge, product.edgeMetricsUrl, false);
    pids.apps.forEach((pid, i) => meter.watch(APPLICATIONS > 1 ? `app${i + 1}` : 'app', pid, product!.metricsUrls[i]));
    meter.watch('mariadb', mariadbPid(Number(u.port)));
    meter.watch('sipp-pbx', pbx.child.pid);
    meter.watch('sipp-carrier', carrier.child.pid);
    console.log(`product: supervisor ${product.supervisor}, edge ${pids.edge}, application(s) ${pids.apps.join(', ')}; MariaDB ${mariadb ? 'throwaway' : 'from ' + TEST_MYSQL_ENV}`);

    // The readiness call's CDR is written after its BYE: wait until the count stops moving.
    let cdrsBaseline = await countCdrs(db);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const n = await countCdrs(db);
      if (n === cdrsBaseline && n > 0) break;
      cdrsBaseline = n;
    }
    meter.recordIdle();
    const ctx: ProductCtx = { sipPort: product.sipPort, csv, csvTcp, meter, db };
    const steps: StepResult[] = [];
    let placedTotal = 0;
    // The memory step: calls held long enough that MEMORY_LIVE are up at once, as on a real trunk
    // (calls last minutes); then memory per live call is the calls' own, not the garbage of a high rate.
    const memoryStep = async (): Promise<string> => {
      if (MEMORY_LIVE <= 0 || MEMORY_RATE <= 0) return 'memory step: not run';
      const holdMs = Math.round((MEMORY_LIVE / MEMORY_RATE) * 1000);
      const seconds = Math.round(holdMs / 1000 + (QUICK ? 10 : 20));
      console.log(`memory step: ${MEMORY_RATE} calls/s for ${seconds} s, each held ${fmt(holdMs / 1000, 0)} s (${MEMORY_LIVE} live calls at the peak):`);
      const m = await runProductWindow(MEMORY_RATE, seconds, ctx, 'memory step', holdMs);
      placedTotal += m.placed;
      console.log(`memory step: placed ${m.placed}, ok ${m.successful}, failed ${m.failed}, setup p50 ${fmt(m.p50, 2)} ms p99 ${fmt(m.p99, 2)} ms, CDRs ${m.cdrs} — ${m.ok ? 'PASS' : 'FAIL: ' + m.why.join('; ')}`);
      printWindow(m, meter);
      const w = m.window;
      const perProc = meter.names().filter((n) => !n.startsWith('sipp')).map((n) => {
        const live = meter.apps().includes(n) ? w.peakLive.get(n) ?? 0 : w.peakLive.get('all') ?? 0;
        const kb = live > 0 ? Math.max(0, (w.peakRssKb.get(n) ?? 0) - (meter.idleKb(n) ?? 0)) / live : NaN;
        return `${n} ${fmt(kb, 1)} KB`;
      }).join(', ');
      const heaps = meter.apps().map((a) => {
        const series = w.heapSeries.get(a) ?? [];
        const before = series[0];
        const peak = series.reduce<[number, number, number] | undefined>((best, x) => (!best || x[2] > best[2] ? x : best), undefined);
        if (!before || !peak || peak[2] <= 0) return `${a}: -`;
        return `${a} ${fmt(peak[1] / 1024, 0)} MB with ${peak[2]} live, ${fmt((peak[1] - before[1]) / Math.max(1, peak[2] - before[2]), 1)} KB per live call above the step's start`;
      }).join('; ');
      const line = `memory step (${m.ok ? 'PASS' : 'FAIL'}) at ${w.peakLive.get('all') ?? 0} live calls: peak RSS minus idle per live call: ${perProc}; V8 heap in use at the peak (live objects and garbage not yet collected): ${heaps}`;
      console.log(`  ${line}`);
      return line;
    };

    // First, the memory step's peak minus idle is the calls' own: RSS that a rate step grew (V8 and
    // InnoDB seldom give memory back) is not counted in it. The rate steps' figures then include it.
    let memoryLine = 'memory step: not run';
    if (MEMORY_FIRST) memoryLine = await memoryStep();
    for (const rate of RATES) {
      console.log(`step ${rate} calls/s for ${STEP_SECONDS} s:`);
      const r = await runProductWindow(rate, STEP_SECONDS, ctx, `step ${rate}`);
      steps.push(r);
      placedTotal += r.placed;
      console.log(`step ${rate} calls/s: placed ${r.placed}, ok ${r.successful}, failed ${r.failed}, retrans ${r.retransmissions}, achieved ${r.achievedRate.toFixed(1)} calls/s, `
        + `setup p50 ${fmt(r.p50, 2)} ms p99 ${fmt(r.p99, 2)} ms max ${fmt(r.max, 0)} ms, CDRs ${r.cdrs} (all written ${r.cdrWaitMs} ms after the last call) — ${r.ok ? 'PASS' : 'FAIL: ' + r.why.join('; ')}`);
      printWindow(r, meter);
      if (!r.ok) break;
    }
    const sustained = steps.filter((s) => s.ok).map((s) => s.rate);
    const best = sustained.length > 0 ? steps.find((s) => s.rate === Math.max(...sustained)) : undefined;

    // The bare B2BUA at the same rate, same machine, same run: its own edge and application.
    let bareLine = 'bare B2BUA: not run';
    if (BARE && best) {
      console.log(`bare B2BUA (test/bench/bare-b2bua.ts on its own edge) at ${best.rate} calls/s for ${STEP_SECONDS} s:`);
      bare = await startBareB2bua(`sip:callee@127.0.0.1:${pbx.localPort}`);
      const bareMeter = new Meter();
      bareMeter.watch('bare-edge', bare.edgePid);
      bareMeter.watch('bare-b2bua', bare.b2buaPid);
      bareMeter.recordIdle();
      const { caller, window } = await runCallers(best.rate, STEP_SECONDS, { sipPort: bare.sipPort, csv, csvTcp, meter: bareMeter }, 'bare B2BUA');
      await bare.stop();
      bare = undefined;
      const bareCpu = productCpuPerCall(window, bareMeter, caller.placed);
      const productCpu = productCpuPerCall(best.window, meter, best.placed);
      const bareEdge = cpuMsPerCall(window, 'bare-edge', caller.placed);
      bareLine = `product / bare B2BUA CPU per call at ${best.rate} calls/s: ${fmt(productCpu / bareCpu, 2)}x (product ${fmt(productCpu, 2)} ms: edge ${fmt(cpuMsPerCall(best.window, 'edge', best.placed), 2)}, `
        + `application(s) ${fmt(sum(meter.apps().map((a) => cpuMsPerCall(best.window, a, best.placed) ?? 0)), 2)}, MariaDB ${fmt(cpuMsPerCall(best.window, 'mariadb', best.placed), 2)}; `
        + `bare ${fmt(bareCpu, 2)} ms: edge ${fmt(bareEdge, 2)}, B2BUA ${fmt(cpuMsPerCall(window, 'bare-b2bua', caller.placed), 2)}); bare setup p50 ${fmt(caller.p50, 2)} ms p99 ${fmt(caller.p99, 2)} ms, failed ${caller.failed}`;
      console.log(`  ${bareLine}`);
    }

    if (!MEMORY_FIRST) memoryLine = await memoryStep();

    // The soak: a constant rate, RSS sampled every second; the slope leaves out the first fifth (warm-up).
    let soak: StepResult | undefined;
    const soakRate = SOAK_RATE ?? (best ? Math.max(10, Math.round((best.rate * 2) / 3 / 10) * 10) : undefined);
    if (SOAK_MINUTES > 0 && soakRate) {
      console.log(`soak at ${soakRate} calls/s for ${SOAK_MINUTES} min:`);
      soak = await runProductWindow(soakRate, SOAK_MINUTES * 60, ctx, 'soak');
      placedTotal += soak.placed;
      console.log(`soak ${soakRate} calls/s: placed ${soak.placed}, ok ${soak.successful}, failed ${soak.failed}, setup p50 ${fmt(soak.p50, 2)} ms p99 ${fmt(soak.p99, 2)} ms, CDRs ${soak.cdrs} — ${soak.ok ? 'PASS' : 'FAIL: ' + soak.why.join('; ')}`);
      printWindow(soak, meter);
    }
    const soakSlopes = soak ? meter.names().filter((n) => !n.startsWith('sipp')).map((n) => {
      const series = soak!.window.rssSeries.get(n) ?? [];
      const end = series[series.length - 1]?.[0] ?? 0;
      // Of the RSS slope, what V8's reserved heap and the memory held outside it (Buffers) make up.
      const parts = (soak!.window.memoryPartsSeries.get(n) ?? []).filter(([m]) => m >= end / 5);
      const split = parts.length >= 3
        ? ` (V8 heap reserved ${fmt(slope(parts.map(([m, heap]) => [m, heap])), 0)}, external ${fmt(slope(parts.map(([m, , ext]) => [m, ext])), 0)})` : '';
      return `${n} ${fmt(slope(series.filter(([m]) => m >= end / 5)), 0)} KB/min${split}`;
    }).join(', ') + '; V8 heap in use after each full collection (what is alive): ' + meter.scraped().map((a) => {
      const series = soak!.window.fullGcHeapSeries.get(a) ?? [];
      const end = soak!.window.rssSeries.get(a)?.at(-1)?.[0] ?? 0;
      const points = series.filter(([m]) => m >= end / 5);
      return points.length >= 3 ? `${a} ${fmt(slope(points), 0)} KB/min (${points.length} full collections, ${fmt(points[0]![1] / 1024, 0)} → ${fmt(points[points.length - 1]![1] / 1024, 0)} MB)` : `${a} - (${points.length} full collections after the warm-up)`;
    }).join(', ') : undefined;

    // Let the last settlements land, then audit.
    await new Promise((r) => setTimeout(r, 2000));
    const books = await checkBooks(db);
    const cdrTotal = (await countCdrs(db)) - cdrsBaseline;
    const byDisposition = await db.sequelize.query<{ disposition: string; n: number }>('SELECT disposition, COUNT(*) AS n FROM cdrs GROUP BY disposition', { type: QueryTypes.SELECT });
    const byScope = await db.sequelize.query<{ scope: string | null; n: number }>('SELECT scope, COUNT(*) AS n FROM cdrs GROUP BY scope', { type: QueryTypes.SELECT });
    const byInstance = await db.sequelize.query<{ instance_id: string | null; n: number }>('SELECT instance_id, COUNT(*) AS n FROM cdrs GROUP BY instance_id', { type: QueryTypes.SELECT });

    console.log('');
    console.log('== result ==');
    console.log(machine());
    console.log(`${APPLICATIONS} application process(es); steps of ${STEP_SECONDS} s`);
    for (const s of steps) {
      const w = s.window;
      const perProc = meter.names().filter((n) => !n.startsWith('sipp')).map((n) => {
        const live = meter.apps().includes(n) ? w.peakLive.get(n) ?? 0 : w.peakLive.get('all') ?? 0;
        const kb = live > 0 ? Math.max(0, (w.peakRssKb.get(n) ?? 0) - (meter.idleKb(n) ?? 0)) / live : NaN;
        return `${n} ${fmt(cpuMsPerCall(w, n, s.placed), 2)} ms ${fmt(kb, 1)} KB`;
      }).join(', ');
      console.log(`  ${String(s.rate).padStart(4)} calls/s ${s.ok ? 'PASS' : 'FAIL'}: failed ${s.failed}, p50 ${fmt(s.p50, 1)} ms, p99 ${fmt(s.p99, 1)} ms, statements/call ${fmt(s.statementsPerCall, 1)}; per call (CPU, memory per live call): ${perProc}`);
    }
    console.log(best
      ? `highest rate sustained for ${STEP_SECONDS} s with zero failed calls: ${best.rate} calls/s (achieved ${best.achievedRate.toFixed(1)}), setup latency p50 ${fmt(best.p50, 2)} ms, p99 ${fmt(best.p99, 2)} ms`
      : 'no step passed');
    // The latency target holds at a rate, not only the absence of failures.
    const fast = steps.filter((s) => s.ok && s.p99 <= 100).sort((a, b) => b.rate - a.rate)[0];
    console.log(fast ? `highest zero-failure rate with setup p99 at most 100 ms: ${fast.rate} calls/s (p50 ${fmt(fast.p50, 2)} ms, p99 ${fmt(fast.p99, 2)} ms)` : 'no zero-failure step had setup p99 at most 100 ms');
    const failedStep = steps.find((s) => !s.ok);
    if (failedStep) console.log(`first failing step: ${failedStep.rate} calls/s: ${failedStep.why.join('; ')}`);
    else console.log('no step failed (raise --rates to find the limit)');
    console.log(bareLine);
    console.log(memoryLine);
    console.log(soak ? `soak ${SOAK_MINUTES} min at ${soak.rate} calls/s (${soak.ok ? 'PASS' : 'FAIL'}): RSS slope ${soakSlopes}` : 'soak: not run');
    console.log(`calls placed in the steps and the soak ${placedTotal}, CDRs written for them ${cdrTotal} (${cdrTotal === placedTotal ? 'equal' : 'NOT EQUAL'}); dispositions: ${byDisposition.map((d) => `${d.disposition} ${d.n}`).join(', ')}; scopes: ${byScope.map((d) => `${d.scope ?? 'none'} ${d.n}`).join(', ')}; `
      + `CDRs by instance: ${byInstance.map((d) => `${d.instance_id ?? 'none'} ${d.n}`).join(', ')}`);
    const balanced = books.accountsOk && books.problems.length === 0 && books.openReservations === 0 && cdrTotal === placedTotal;
    console.log(`books: ${balanced ? 'BALANCED' : 'NOT BALANCED'} (balances = ledgers: ${books.accountsOk}, open reservations ${books.openReservations}, CDRs checked against ledger ${books.cdrsChecked}, problems ${books.problems.length})`);
    for (const p of books.problems.slice(0, 20)) console.log(`  ${p}`);
    console.log(`product log (level warn): ${product.logs.length} lines${product.logs.length ? '; first: ' + product.logs.slice(0, 5).join(' | ') : ''}`);
    process.exitCode = best && balanced ? 0 : 1;
  } finally {
    await bare?.stop();
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
