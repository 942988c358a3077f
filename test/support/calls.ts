/**
 * Helpers for call-flow tests: run a SIPp caller with its own CSV row and log, find the call's CDR
 * and ledger entry, and check the books of the whole database.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { parseMoney } from '../../lib/common/money';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import type { Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { AccountService } from '../../lib/prepaid';
import { runSipp, startSipp, type SippProcess, type SippResult } from './sipp';

export const SCENARIOS = path.resolve(__dirname, '../../../scenarios');

export interface CallerRun {
  result: SippResult;
  /** SIPp's message log lines (CALLID, ANSWERED, BYE, FINAL, REASON … with epoch times). */
  log: string[];
  /** The A-leg Call-ID. */
  sipCallId: string | undefined;
  /** Epoch ms of a logged event (ANSWERED, BYE, FINAL), if logged. */
  at(event: string): number | undefined;
  /** The Reason header logged with the BYE or final response. */
  reason: string | undefined;
}

/** SIPp prints its time variables as doubles: "<seconds>.000000.<microseconds>.000000". */
export const EPOCH = '(\\d+)(?:\\.\\d+)?\\.(\\d+)';

/** Epoch ms of the first SIPp log line of an event (caller or far end). */
export function farEndTime(lines: string[], event: string): number | undefined {
  const m = lines.map((l) => new RegExp(`^${event} \\S+ ${EPOCH}`).exec(l)).find(Boolean);
  return m ? Number(m[1]) * 1000 + Math.floor(Number(m[2]) / 1000) : undefined;
}

function parseLog(text: string): Pick<CallerRun, 'log' | 'sipCallId' | 'at' | 'reason'> {
  const log = text.split('\n').filter(Boolean);
  const sipCallId = log.map((l) => /^CALLID (\S+)/.exec(l)?.[1]).find(Boolean);
  return {
    log, sipCallId,
    at: (event: string) => farEndTime(log, event),
    reason: log.map((l) => /^REASON \S+ (.*)$/.exec(l)?.[1]).find((r) => r !== undefined && r !== ''),
  };
}

export interface CallerOptions {
  scenario: string;
  caller: string;
  dialled: string;
  transport: 'udp' | 'tcp';
  sipPort: number;
  holdMs?: number;
  localHost?: string;
  timeoutMs?: number;
}

/** One call from a SIPp caller (the PBX side) to Tollgate. */
export async function placeCall(opts: CallerOptions): Promise<CallerRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-caller-'));
  try {
    const csv = path.join(dir, 'callers.csv');
    fs.writeFileSync(csv, `SEQUENTIAL\n${opts.caller};${opts.dialled};\n`);
    const logFile = path.join(dir, 'messages.log');
    const result = await runSipp({
      scenario: { file: path.join(SCENARIOS, opts.scenario) }, transport: opts.transport, target: `127.0.0.1:${opts.sipPort}`,
      calls: 1, injection: csv, durationMs: opts.holdMs ?? 1000, timeoutMs: opts.timeoutMs ?? 30_000,
      localHost: opts.localHost, extraArgs: [...(process.env.TG_SIPP_TRACE ? ['-trace_msg', '-message_file', process.env.TG_SIPP_TRACE + '-' + opts.caller + '.msg'] : []), '-trace_logs', '-log_file', logFile, '-recv_timeout', String(opts.timeoutMs ?? 30_000)],
    });
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    return { result, ...parseLog(text) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A SIPp far end in the background, logging what it receives into a file the test can read. */
export interface FarEndProcess { sipp: SippProcess; port: number; readLog(): string[]; stop(): Promise<SippResult> }

export async function startFarEnd(scenario: string, transport: 'udp' | 'tcp', holdMs = 1000): Promise<FarEndProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-farend-'));
  const logFile = path.join(dir, 'messages.log');
  const sipp = await startSipp({
    scenario: { file: path.join(SCENARIOS, scenario) }, transport, durationMs: holdMs, timeoutMs: 600_000,
    extraArgs: [...(process.env.TG_SIPP_TRACE ? ['-trace_msg', '-message_file', process.env.TG_SIPP_TRACE + '-far-' + scenario + '.msg'] : []), '-trace_logs', '-log_file', logFile],
  });
  if (sipp.child.exitCode !== null) {
    const r = await sipp.done;
    throw new Error(`far end ${scenario} did not start (exit ${r.exitCode}): ${r.stdout.slice(-600)} ${r.stderr.slice(-600)}`);
  }
  return {
    sipp, port: sipp.localPort,
    readLog: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : []),
    stop: async () => {
      const r = await sipp.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

/** The CDR of an A-leg Call-ID, waiting for the call to be settled and written. */
export async function cdrOf(db: Database, sipCallId: string | undefined, timeoutMs = 15_000): Promise<CdrRecord> {
  if (!sipCallId) throw new Error('the caller logged no Call-ID');
  const until = Date.now() + timeoutMs;
  const cdrs = new CdrRepository(db);
  while (Date.now() < until) {
    const rows = await db.sequelize.query<{ call_id: string }>('SELECT call_id FROM cdrs WHERE sip_call_id = ?', { replacements: [sipCallId], type: QueryTypes.SELECT });
    if (rows[0]) return (await cdrs.findByCallId(rows[0].call_id))!;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no CDR for Call-ID ${sipCallId} within ${timeoutMs} ms`);
}

/** The ledger charge (positive micro-units) written under a key, or undefined. */
export async function ledgerCharge(db: Database, key: string | null): Promise<bigint | undefined> {
  if (!key) return undefined;
  const rows = await db.sequelize.query<{ amount: string }>('SELECT amount FROM ledger_entries WHERE idempotency_key = ?', { replacements: [key], type: QueryTypes.SELECT });
  return rows[0] ? -parseMoney(String(rows[0].amount)) : undefined;
}

export interface Books { accountsOk: boolean; problems: string[]; openReservations: number; cdrsChecked: number }

/** Every balance equals its ledger; no money left reserved; every CDR's cost equals its ledger charge. */
export async function checkBooks(db: Database): Promise<Books> {
  const problems: string[] = [];
  const audits = await new AccountService(new PrepaidRepository(db), () => new Date()).check();
  for (const a of audits) if (!a.ok) problems.push(`account ${a.code}: balance ${a.balance} ledger ${a.ledgerSum} reserved ${a.reserved} active ${a.activeReserved} live ${a.liveCalls}`);
  const open = await db.sequelize.query<{ n: number }>("SELECT COUNT(*) AS n FROM reservations WHERE state = 'active'", { type: QueryTypes.SELECT });
  const cdrs = await db.sequelize.query<{ call_id: string; cost: string; ledger_key: string | null; disposition: string }>('SELECT call_id, cost, ledger_key, disposition FROM cdrs', { type: QueryTypes.SELECT });
  for (const c of cdrs) {
    const cost = parseMoney(String(c.cost));
    const charge = await ledgerCharge(db, c.ledger_key);
    if (c.ledger_key === null ? cost !== 0n : (charge ?? 0n) !== cost) problems.push(`CDR ${c.call_id} (${c.disposition}): cost ${cost} but ledger charge ${charge}`);
  }
  return { accountsOk: audits.every((a) => a.ok), problems, openReservations: Number(open[0]?.n ?? 0), cdrsChecked: cdrs.length };
}
