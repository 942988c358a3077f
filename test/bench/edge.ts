/**
 * Edge benchmark (npm run bench:edge): a minimal drachtio-srf B2BUA on the edge (edge in its own
 * process), SIPp caller and callee over UDP on loopback, call rate rising step by step. Prints the
 * highest rate sustained for a whole step (30 s by default) with zero failed calls, call setup
 * latency p50/p99 (INVITE → 200 at the caller, SIPp response times), and the edge process's CPU
 * and peak memory. Per step also: the edge's peak RSS above its idle RSS (sampled at the step's
 * start, once the previous step's transactions have ended) per peak live call (a B2BUA call is two
 * dialogs on the edge) and per peak live transaction (server + client), and edge CPU-ms per call.
 * Finished transactions are a bounded cache of records, counted apart: its peak entries and
 * estimated bytes, and KB per live call with the cache's bytes taken out of the growth.
 * Env: BENCH_STEP_SECONDS, BENCH_RATES (comma list), BENCH_HOLD_MS (call length), BENCH_REPEATS
 * (runs of each rate; medians printed), BENCH_SAMPLE_MS (sampling period, default 250).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { runSipp, startSipp } from '../support/sipp';
import { connectBareB2bua } from './bare-b2bua';

const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 30);
const RATES = (process.env.BENCH_RATES ?? '50,100,200,300,400,500,700').split(',').map(Number);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 1000);
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 1));
const SAMPLE_MS = Number(process.env.BENCH_SAMPLE_MS ?? 250);
const CLK_TCK = 100;

interface ProcSample { cpuTicks: number; rssKb: number; hwmKb: number }
function sample(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuTicks, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const script = path.resolve(__dirname, '../support/edge-process.js');
  const options = {
    sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    control: { address: '127.0.0.1', port: 0, secret: 'bench' },
  };
  // --expose-gc and the probe: on SIGUSR1 the edge prints its memory after a full GC (retained, not RSS)
  const probe = path.resolve(__dirname, 'edge-heap-probe.js');
  const child = spawn(process.execPath, ['--expose-gc', '--require', probe, script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const ready = await new Promise<{ sip: Array<{ port: number }>; controlPort: number }>((resolve, reject) => {
    lines.on('line', (l) => { const j = JSON.parse(l); if (j.ready) resolve(j); });
    child.on('exit', (code) => reject(new Error(`edge exited ${code}`)));
  });
  const pid = child.pid as number;
  // The edge process prints its counters on SIGUSR2; the latest answer is kept here.
  let latest: Record<string, number> = {};
  let answers = 0;
  lines.on('line', (l) => {
    const j = JSON.parse(l) as { counters?: Record<string, number> };
    if (j.counters) { latest = j.counters; answers++; }
  });
  const counters = async (): Promise<Record<string, number>> => {
    const before = answers;
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 200 && answers === before; i++) await new Promise((r) => setTimeout(r, 5));
    return latest;
  };
  let heapAnswer: { heapUsed: number; external: number } | null = null;
  lines.on('line', (l) => {
    const j = JSON.parse(l) as { heap?: { heapUsed: number; external: number } };
    if (j.heap) heapAnswer = j.heap;
  });
  /** The edge's heap and external memory after a full GC, in KB (bounded wait). */
  const retainedKb = async (): Promise<number> => {
    heapAnswer = null;
    process.kill(pid, 'SIGUSR1');
    for (let i = 0; i < 1000 && heapAnswer === null; i++) await new Promise((r) => setTimeout(r, 5));
    const h = heapAnswer as { heapUsed: number; external: number } | null;
    return h ? (h.heapUsed + h.external) / 1024 : NaN;
  };
  const liveTransactions = (c: Record<string, number>) => (c.liveServerTransactions ?? 0) + (c.liveClientTransactions ?? 0);
  /** Waits for the previous step's transactions and dialogs to end (64*T1 and the calls' length, bounded). */
  const settle = async (): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const c = await counters();
      if (liveTransactions(c) === 0 && (c.liveDialogs ?? 0) === 0 && (c.finishedTransactions ?? 0) === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const sipPort = ready.sip[0].port;

  const callee = await startSipp({ scenario: 'uas', transport: 'udp', timeoutMs: 3600_000, extraArgs: ['-max_socket', '1000'] });
  const srf = await connectBareB2bua(ready.controlPort, 'bench', `sip:callee@127.0.0.1:${callee.localPort}`);

  const cpus = os.cpus();
  console.log(`machine: ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, `
    + `${os.type()} ${os.release()}, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);
  console.log(`steps of ${STEP_SECONDS} s, calls held ${HOLD_MS} ms, ${REPEATS} run(s) per rate, B2BUA app in the bench process, edge pid ${pid}`);
  console.log('rate/s  run calls  ok     failed  p50 ms  p99 ms  CPU %  CPU ms/call  idle MB  peak MB  calls  txns    KB/call  KB/txn  cache   cache MB  KB/call-cache  retained KB/call (calls)');
  let best: { rate: number; p50: number; p99: number; cpu: number } | null = null;
  // V8 keeps the heap it grew, so the idle figure is the edge's before any load, not between steps.
  const idleRssKb = sample(pid).rssKb;
  const idleRetainedKb = await retainedKb();
  const summary: string[] = [];
  for (const rate of RATES) {
    const runs: Array<{ p50: number; p99: number; cpu: number; cpuMsPerCall: number; kbPerCall: number; kbPerTxn: number; peakCalls: number; peakTxns: number; peakRssKb: number;
      peakCache: number; peakCacheKb: number; kbPerCallNoCache: number; evicted: number; retainedKbPerCall: number; retainedCalls: number }> = [];
    let failedRun = false;
    for (let run = 1; run <= REPEATS; run++) {
      await settle();
      const before = sample(pid);
      let peakRssKb = idleRssKb;
      let peakDialogs = 0;
      let peakTxns = 0;
      let peakCache = 0;
      let peakCacheBytes = 0;
      const evictedBefore = (await counters()).finishedTransactionsEvicted ?? 0;
      let evicted = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peakRssKb = Math.max(peakRssKb, sample(pid).rssKb);
          const c = await counters();
          peakDialogs = Math.max(peakDialogs, c.liveDialogs ?? 0);
          peakTxns = Math.max(peakTxns, liveTransactions(c));
          peakCache = Math.max(peakCache, c.finishedTransactions ?? 0);
          peakCacheBytes = Math.max(peakCacheBytes, c.finishedTransactionBytes ?? 0);
          evicted = (c.finishedTransactionsEvicted ?? 0) - evictedBefore;
          await new Promise((r) => setTimeout(r, SAMPLE_MS));
        }
      })();
      // half way through the step, calls are at their steady level: what each one retains after a GC
      let retained = { kbPerCall: NaN, calls: 0 };
      const probeTimer = setTimeout(() => {
        void (async () => {
          const kb = await retainedKb();
          const c = await counters();
          const liveCalls = Math.ceil((c.liveDialogs ?? 0) / 2);
          const cacheKb = (c.finishedTransactionBytes ?? 0) / 1024;
          retained = { kbPerCall: liveCalls > 0 ? (kb - idleRetainedKb - cacheKb) / liveCalls : NaN, calls: liveCalls };
        })();
      }, (STEP_SECONDS * 1000) / 2);
      const t0 = Date.now();
      const calls = rate * STEP_SECONDS;
      const r = await runSipp({
        scenario: 'uac', transport: 'udp', target: `127.0.0.1:${sipPort}`, rate, calls, durationMs: HOLD_MS,
        rtt: true, timeoutMs: (STEP_SECONDS + 60) * 1000, extraArgs: ['-max_socket', '1000', '-recv_timeout', '10000'],
      });
      const after = sample(pid);
      clearTimeout(probeTimer);
      sampling = false;
      await sampler;
      const wall = (Date.now() - t0) / 1000;
      const cpuTicks = after.cpuTicks - before.cpuTicks;
      const cpu = ((cpuTicks / CLK_TCK) / wall) * 100;
      const cpuMsPerCall = (cpuTicks * (1000 / CLK_TCK)) / Math.max(1, r.stats.successful + r.stats.failed);
      const rtt = [...r.rtt].sort((a, b) => a - b);
      const p50 = percentile(rtt, 50);
      const p99 = percentile(rtt, 99);
      const peakCalls = Math.ceil(peakDialogs / 2);
      const grownKb = Math.max(0, peakRssKb - idleRssKb);
      const kbPerCall = peakCalls > 0 ? grownKb / peakCalls : NaN;
      const kbPerTxn = peakTxns > 0 ? grownKb / peakTxns : NaN;
      const peakCacheKb = peakCacheBytes / 1024;
      const kbPerCallNoCache = peakCalls > 0 ? Math.max(0, grownKb - peakCacheKb) / peakCalls : NaN;
      runs.push({ p50, p99, cpu, cpuMsPerCall, kbPerCall, kbPerTxn, peakCalls, peakTxns, peakRssKb, peakCache, peakCacheKb, kbPerCallNoCache, evicted,
        retainedKbPerCall: retained.kbPerCall, retainedCalls: retained.calls });
      console.log(`${String(rate).padEnd(8)}${String(run).padEnd(4)}${String(calls).padEnd(7)}${String(r.stats.successful).padEnd(7)}${String(r.stats.failed).padEnd(8)}`
        + `${p50.toFixed(1).padEnd(8)}${p99.toFixed(1).padEnd(8)}${cpu.toFixed(0).padEnd(7)}${cpuMsPerCall.toFixed(3).padEnd(13)}`
        + `${(idleRssKb / 1024).toFixed(0).padEnd(9)}${(peakRssKb / 1024).toFixed(0).padEnd(9)}${String(peakCalls).padEnd(7)}${String(peakTxns).padEnd(8)}`
        + `${kbPerCall.toFixed(1).padEnd(9)}${kbPerTxn.toFixed(2).padEnd(8)}${String(peakCache).padEnd(8)}${(peakCacheKb / 1024).toFixed(1).padEnd(10)}`
        + `${kbPerCallNoCache.toFixed(1).padEnd(15)}${retained.kbPerCall.toFixed(1)} (${retained.calls})${evicted > 0 ? `  ${evicted} records evicted` : ''}`);
      if (r.stats.failed > 0 || r.stats.successful < calls || r.exitCode !== 0) { failedRun = true; break; }
    }
    const m = (k: keyof (typeof runs)[number]) => median(runs.map((x) => x[k]));
    summary.push(`${rate} calls/s (median of ${runs.length} run(s) of ${rate * STEP_SECONDS} calls, ${SAMPLE_MS} ms samples): ${m('kbPerCall').toFixed(1)} KB per live call (peak ${m('peakCalls')} calls), `
      + `${m('kbPerCallNoCache').toFixed(1)} KB per live call without the finished-transaction cache (peak ${m('peakCache')} records, `
      + `${(m('peakCacheKb') / 1024).toFixed(1)} MB estimated, ${m('evicted')} evicted), `
      + `${m('retainedKbPerCall').toFixed(1)} KB retained per live call after a GC (heap + external, cache taken out), `
      + `${m('kbPerTxn').toFixed(2)} KB per live transaction (peak ${m('peakTxns')}), ${m('cpuMsPerCall').toFixed(3)} CPU-ms per call, `
      + `peak RSS ${(m('peakRssKb') / 1024).toFixed(0)} MB, p50 ${m('p50').toFixed(1)} ms, p99 ${m('p99').toFixed(1)} ms`);
    if (failedRun) break;
    best = { rate, p50: m('p50'), p99: m('p99'), cpu: m('cpu') };
  }
  console.log('');
  for (const line of summary) console.log(line);
  const peak = sample(pid);
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end (${os.cpus().length} cores; other work on the machine inflates latency and CPU figures)`);
  if (best) {
    console.log(`\nhighest rate sustained ${STEP_SECONDS} s with zero failed calls: ${best.rate} calls/s`);
    console.log(`setup latency at that rate: p50 ${best.p50.toFixed(1)} ms, p99 ${best.p99.toFixed(1)} ms`);
    console.log(`edge CPU at that rate: ${best.cpu.toFixed(0)} % of one core; edge peak memory (VmHWM): ${(peak.hwmKb / 1024).toFixed(0)} MB`);
  } else {
    console.log('\nno rate passed with zero failures');
  }
  srf.disconnect();
  await callee.stop();
  child.kill('SIGTERM');
}

main().catch((err) => { console.error(err); process.exit(1); });
