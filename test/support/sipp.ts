/**
 * SIPp from tests and benchmarks.
 *
 *   const r = await runSipp({ scenario: 'uac', target: '127.0.0.1:5060', transport: 'udp', calls: 10, rate: 5 });
 *   assert.equal(r.stats.failed, 0);
 *
 *   const uas = await startSipp({ scenario: { file: 'scenarios/edge/uas-answer.xml' }, transport: 'tcp' });
 *   // … send calls to 127.0.0.1:${uas.localPort} …
 *   const result = await uas.stop();   // always stop in after()/finally: kills the process
 *
 * - scenario: a built-in name ('uac', 'uas', 'branchc', …) or { file } of an XML scenario.
 * - transport 'udp' → `-t u1`, 'tcp' → `-t t1`; target is host:port for the calling side.
 * - localPort 0 (default) picks a free port first, so the port is known before SIPp starts.
 * - calls (-m), rate (-r, per second, or per ratePeriodMs), limit (-l), durationMs (-d),
 *   injection (CSV file for -inf), vars (-key name value), extraArgs (anything else).
 * - timeoutMs bounds the run: SIPp is killed when it elapses (stats are still read).
 * - rtt: true records every response-time sample (-trace_rtt) into result.rtt (ms), and when each was
 *   taken into result.rttAt (ms since SIPp started).
 * - Statistics come from -trace_stat (the last row of the CSV): successful, failed, created,
 *   retransmissions, unexpected messages, plus the exit code (0 = every call succeeded).
 * Each run writes into its own temporary directory, removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface SippOptions {
  scenario: string | { file: string };
  transport?: 'udp' | 'tcp';
  target?: string;
  localPort?: number;
  localHost?: string;
  calls?: number;
  rate?: number;
  ratePeriodMs?: number;
  limit?: number;
  durationMs?: number;
  injection?: string;
  service?: string;
  vars?: Record<string, string>;
  extraArgs?: string[];
  timeoutMs?: number;
  rtt?: boolean;
}

export interface SippStats {
  successful: number;
  failed: number;
  created: number;
  retransmissions: number;
  unexpected: number;
  outgoingCalls: number;
  incomingCalls: number;
  row: Record<string, string>;
}

export interface SippResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stats: SippStats;
  rtt: number[];
  /** When each sample of `rtt` was taken, in ms since SIPp started (same order). */
  rttAt: number[];
  stdout: string;
  stderr: string;
  localPort: number;
}

export interface SippProcess {
  readonly localPort: number;
  readonly child: ChildProcess;
  /** Resolves when SIPp exits by itself (or is killed on timeout). */
  readonly done: Promise<SippResult>;
  /** Kills SIPp (SIGUSR1 first: it then exits cleanly and dumps statistics) and returns the result. */
  stop(): Promise<SippResult>;
}

export async function startSipp(opts: SippOptions): Promise<SippProcess> {
  const localPort = opts.localPort && opts.localPort > 0 ? opts.localPort : await freePort('both', opts.localHost ?? '127.0.0.1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipp-'));
  const statFile = path.join(dir, 'stat.csv');
  const args: string[] = [];
  if (typeof opts.scenario === 'string') args.push('-sn', opts.scenario);
  else args.push('-sf', path.resolve(opts.scenario.file));
  args.push('-i', opts.localHost ?? '127.0.0.1', '-p', String(localPort), '-t', opts.transport === 'tcp' ? 't1' : 'u1');
  args.push('-nostdin', '-trace_stat', '-stf', statFile, '-fd', '1');
  if (opts.calls !== undefined) args.push('-m', String(opts.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', `${opts.ratePeriodMs}ms`);
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.durationMs !== undefined) args.push('-d', String(opts.durationMs));
  if (opts.injection) args.push('-inf', path.resolve(opts.injection));
  if (opts.service) args.push('-s', opts.service);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-key', k, v);
  if (opts.rtt) args.push('-trace_rtt', '-rtt_freq', '1');
  args.push(...(opts.extraArgs ?? []));
  if (opts.target) args.push(opts.target);

  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout = (stdout + d.toString()).slice(-200000); });
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-200000); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGUSR1'); setTimeout(() => child.kill('SIGKILL'), 2000).unref(); },
    opts.timeoutMs ?? 60000);
  // Listen for the exit before waiting for the socket: a SIPp that dies while starting must still settle `done`.
  const done = new Promise<SippResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: SippResult = {
        exitCode: code, signal, timedOut, stats: readStats(statFile), ...readRtt(dir), stdout, stderr, localPort,
      };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(result);
    });
    child.on('error', (err) => { stderr += String(err); });
  });
  if (!opts.target) await waitForListening(localPort, opts.transport ?? 'udp', child);
  return {
    localPort,
    child,
    done,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGUSR1');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
        const r = await done;
        clearTimeout(killer);
        return r;
      }
      return done;
    },
  };
}

export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const p = await startSipp(opts);
  return p.done;
}

/** A callee-side SIPp is usable once its port shows in /proc/net (bounded wait). */
async function waitForListening(port: number, transport: 'udp' | 'tcp', child: ChildProcess): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const table = transport === 'tcp' ? '/proc/net/tcp' : '/proc/net/udp';
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) return;
    try {
      const lines = fs.readFileSync(table, 'utf8').split('\n');
      if (lines.some((l) => l.split(/\s+/)[2]?.endsWith(hex.trim()) && (transport === 'udp' || l.split(/\s+/)[4] === '0A'))) return;
    } catch { return; }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readStats(file: string): SippStats {
  const empty: SippStats = { successful: 0, failed: 0, created: 0, retransmissions: 0, unexpected: 0, outgoingCalls: 0, incomingCalls: 0, row: {} };
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return empty; }
  const lines = text.trim().split('\n').filter((l) => l.includes(';'));
  if (lines.length < 2) return empty;
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const row: Record<string, string> = {};
  head.forEach((h, i) => { row[h] = last[i] ?? ''; });
  const n = (k: string) => Number(row[k] ?? 0) || 0;
  return {
    successful: n('SuccessfulCall(C)'), failed: n('FailedCall(C)'), created: n('TotalCallCreated'),
    retransmissions: n('Retransmissions(C)'), unexpected: n('FailedUnexpectedMessage(C)'),
    outgoingCalls: n('OutGoingCall(C)'), incomingCalls: n('IncomingCall(C)'), row,
  };
}

/** SIPp's -trace_rtt file: `Date_ms;response_time_ms;rtd_no` per sample. */
function readRtt(dir: string): { rtt: number[]; rttAt: number[] } {
  const rtt: number[] = [];
  const rttAt: number[] = [];
  const f = fs.readdirSync(dir).find((x) => x.endsWith('_rtt.csv'));
  if (!f) return { rtt, rttAt };
  for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(1)) {
    const parts = line.split(';');
    if (parts.length < 2 || parts[1] === '') continue;
    const at = Number(parts[0]);
    const ms = Number(parts[1]);
    if (!Number.isFinite(ms)) continue;
    rtt.push(ms);
    rttAt.push(Number.isFinite(at) ? at : NaN);
  }
  return { rtt, rttAt };
}
