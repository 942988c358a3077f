/**
 * Edge benchmark (npm run bench:edge): a minimal drachtio-srf B2BUA on the edge (edge in its own
 * process), SIPp caller and callee over UDP on loopback, call rate rising step by step. Prints the
 * highest rate sustained for a whole step (30 s by default) with zero failed calls, call setup
 * latency p50/p99 (INVITE → 200 at the caller, SIPp response times), and the edge process's CPU
 * and peak memory. Env: BENCH_STEP_SECONDS, BENCH_RATES (comma list), BENCH_HOLD_MS (call length).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import Srf from 'drachtio-srf';
import { runSipp, startSipp } from '../support/sipp';

const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 30);
const RATES = (process.env.BENCH_RATES ?? '50,100,200,300,400,500,700').split(',').map(Number);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 1000);
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
  const child = spawn(process.execPath, [script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const ready = await new Promise<{ sip: Array<{ port: number }>; controlPort: number }>((resolve, reject) => {
    lines.on('line', (l) => { const j = JSON.parse(l); if (j.ready) resolve(j); });
    child.on('exit', (code) => reject(new Error(`edge exited ${code}`)));
  });
  const pid = child.pid as number;
  const sipPort = ready.sip[0].port;

  const callee = await startSipp({ scenario: 'uas', transport: 'udp', timeoutMs: 3600_000, extraArgs: ['-max_socket', '1000'] });
  const srf = new Srf();
  srf.invite((req, res) => {
    srf.createB2BUA(req, res, `sip:callee@127.0.0.1:${callee.localPort}`, { localSdpB: req.body })
      .then(({ uas, uac }) => {
        (uas as unknown as NodeJS.EventEmitter).on('destroy', () => { void uac.destroy(); });
        (uac as unknown as NodeJS.EventEmitter).on('destroy', () => { void uas.destroy(); });
      }, () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    srf.on('connect', (err) => (err ? reject(err) : resolve()));
    srf.connect({ host: '127.0.0.1', port: ready.controlPort, secret: 'bench' } as Srf.SrfConfig);
  });

  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}, sipp ${'3.6'}`);
  console.log(`steps of ${STEP_SECONDS} s, calls held ${HOLD_MS} ms, B2BUA app in the bench process, edge pid ${pid}`);
  console.log('rate/s  calls  ok     failed  p50 ms  p99 ms  edge CPU %  edge RSS MB');
  let best: { rate: number; p50: number; p99: number; cpu: number } | null = null;
  for (const rate of RATES) {
    const before = sample(pid);
    const t0 = Date.now();
    const calls = rate * STEP_SECONDS;
    const r = await runSipp({
      scenario: 'uac', transport: 'udp', target: `127.0.0.1:${sipPort}`, rate, calls, durationMs: HOLD_MS,
      rtt: true, timeoutMs: (STEP_SECONDS + 60) * 1000, extraArgs: ['-max_socket', '1000', '-recv_timeout', '10000'],
    });
    const after = sample(pid);
    const wall = (Date.now() - t0) / 1000;
    const cpu = ((after.cpuTicks - before.cpuTicks) / CLK_TCK / wall) * 100;
    const rtt = [...r.rtt].sort((a, b) => a - b);
    const p50 = percentile(rtt, 50);
    const p99 = percentile(rtt, 99);
    console.log(`${String(rate).padEnd(8)}${String(calls).padEnd(7)}${String(r.stats.successful).padEnd(7)}${String(r.stats.failed).padEnd(8)}`
      + `${p50.toFixed(1).padEnd(8)}${p99.toFixed(1).padEnd(8)}${cpu.toFixed(0).padEnd(12)}${(after.rssKb / 1024).toFixed(0)}`);
    if (r.stats.failed > 0 || r.stats.successful < calls || r.exitCode !== 0) break;
    best = { rate, p50, p99, cpu };
    await new Promise((res) => setTimeout(res, 2000));
  }
  const peak = sample(pid);
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
