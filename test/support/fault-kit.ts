/**
 * Fault tests: what the far ends saw, what the books say, and whether the two agree.
 *
 *   const callers = await startCallers(product.sipPort, { calls: 10, dialled: DIAL.answer });
 *   … kill something …
 *   const calls = await checkBooks(databaseUrl, { sipCallIds: callers.callIds() });
 *   assertTalkTime(calls, callers.farEnd(), { label: 'edge killed', realEnd: () => killedAt });
 *
 * - Far-end timestamps come from SIPp's own message trace (-trace_msg): per Call-ID, when the caller
 *   received the 200 OK to its INVITE (answer), the first BYE it sent or received (end), and the
 *   final response to a call that was never answered.
 * - checkBooks: every balance = its ledger, nothing reserved, exactly one CDR per call, every CDR's
 *   cost = its ledger charge; returns the billed figures of each call.
 * - assertTalkTime: billed seconds against the far end's talk time (or a real end the test knows,
 *   such as the moment a process was killed), and prints the figures.
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { parseMoney, type Micros } from '../../lib/common/money';
import { openDatabaseUrl } from '../../lib/db/database';
import { allFarEndsAt, PEOPLE, seedCallWorld, type FarEnd } from './call-fixture';
import { SCENARIOS } from './calls';
import { eventually, readBooks } from './ops-product';
import { merge, type ConfigPatch } from './product';
import { startSipp, type SippOptions, type SippProcess, type SippResult } from './sipp';

// ---------------------------------------------------------------------------------------------
// SIPp's message trace

export interface TracedMessage {
  /** Epoch ms, as SIPp stamped it (its local time, the same zone as this process). */
  at: number;
  direction: 'sent' | 'received';
  /** Request method, or undefined for a response. */
  method?: string;
  /** Response status, or undefined for a request. */
  status?: number;
  callId: string;
  cseq: { seq: number; method: string } | undefined;
  /** Header lines as written ("Name: value"). */
  headers: string[];
}

const STAMP = /^-{10,} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})$/;

/** Parses a file written by `sipp -trace_msg -message_file <file>`. */
export function readMessageTrace(file: string): TracedMessage[] {
  if (!fs.existsSync(file)) return [];
  const out: TracedMessage[] = [];
  const lines = fs.readFileSync(file, 'latin1').split('\n').map((l) => l.replace(/\r$/, ''));
  for (let i = 0; i < lines.length; i++) {
    const stamp = STAMP.exec(lines[i]!);
    if (!stamp) continue;
    const [, y, mo, d, h, mi, s, us] = stamp.map(Number) as number[];
    const at = new Date(y!, mo! - 1, d!, h!, mi!, s!).getTime() + us! / 1000;
    const kind = /message (sent|received)/.exec(lines[i + 1] ?? '');
    if (!kind) continue;
    let j = i + 2;
    while (j < lines.length && lines[j] === '') j++;
    const first = lines[j] ?? '';
    const headers: string[] = [];
    for (j++; j < lines.length && lines[j] !== '' && !STAMP.test(lines[j]!); j++) headers.push(lines[j]!);
    const header = (name: string, compact?: string) => headers.find((hl) => {
      const n = hl.slice(0, hl.indexOf(':')).trim().toLowerCase();
      return n === name || n === compact;
    })?.replace(/^[^:]*:\s*/, '');
    const callId = header('call-id', 'i');
    if (!callId) continue;
    const cseq = /^(\d+)\s+(\S+)/.exec(header('cseq') ?? '');
    const status = /^SIP\/2\.0 (\d{3})/.exec(first);
    out.push({
      at, direction: kind[1] as 'sent' | 'received', callId, headers,
      method: status ? undefined : first.split(' ')[0],
      status: status ? Number(status[1]) : undefined,
      cseq: cseq ? { seq: Number(cseq[1]), method: cseq[2]!.toUpperCase() } : undefined,
    });
  }
  return out;
}

/** One call as the SIPp caller saw it. */
export interface FarEndCall {
  callId: string;
  invitedAt: number;
  /** When the caller received the 200 OK to its INVITE. */
  answeredAt?: number;
  /** The first BYE of the dialog the caller sent (by 'caller') or received (by 'network'). */
  endedAt?: number;
  endedBy?: 'caller' | 'network';
  /** The Reason header of that BYE. */
  byeReason?: string;
  /** The final response to an INVITE that was never answered. */
  finalStatus?: number;
  finalAt?: number;
  finalReason?: string;
}

/** The caller's view of every call in a trace (the Call-IDs it sent INVITEs for). */
export function callerView(messages: TracedMessage[]): Map<string, FarEndCall> {
  const calls = new Map<string, FarEndCall & { inviteSeq: number }>();
  const reason = (m: TracedMessage) => m.headers.find((h) => /^reason\s*:/i.test(h))?.replace(/^[^:]*:\s*/, '');
  for (const m of messages) {
    let call = calls.get(m.callId);
    if (!call) {
      if (m.direction !== 'sent' || m.method !== 'INVITE' || !m.cseq) continue;
      call = { callId: m.callId, invitedAt: m.at, inviteSeq: m.cseq.seq };
      calls.set(m.callId, call);
      continue;
    }
    const toInvite = m.status !== undefined && m.direction === 'received' && m.cseq?.method === 'INVITE' && m.cseq.seq === call.inviteSeq;
    if (toInvite && m.status! >= 200 && m.status! < 300 && call.answeredAt === undefined) call.answeredAt = m.at;
    if (toInvite && m.status! >= 300 && call.finalStatus === undefined && call.answeredAt === undefined) {
      call.finalStatus = m.status; call.finalAt = m.at; call.finalReason = reason(m);
    }
    if (m.method === 'BYE' && call.endedAt === undefined) {
      call.endedAt = m.at; call.endedBy = m.direction === 'sent' ? 'caller' : 'network'; call.byeReason = reason(m);
    }
  }
  return new Map([...calls].map(([id, { inviteSeq: _seq, ...c }]) => [id, c]));
}

/** SIPp arguments that write its message trace to `file`. */
export function traceArgs(file: string): string[] {
  return ['-trace_msg', '-message_file', file];
}

function traceFile(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tg-fault-trace-')), `${name}.msg`);
}

// ---------------------------------------------------------------------------------------------
// The world: the call fixture's accounts, flat per-second tariffs and trunks, SIPp at the far ends

/** Dialled digits (Alice, off-net through prefix 9) that reach each far-end trunk of the fixture. */
export const DIAL = {
  /** carrier (default route) → the answering far end */
  answer: '9030555123',
  /** prefix 4922 → the far end that answers and vanishes */
  vanish: '9022123456',
  /** prefix 4969 → the far end that rings and vanishes */
  silent: '9069123456',
} as const;

export const CALLER = PEOPLE.alice.e164;
/** The fixture's off-net price, micro-units per second. */
export const OFFNET_MICROS_PER_SECOND = 2000n;

/** Migrates and seeds the call fixture; trunks of far ends not given point at `answer`. */
export async function seedFaultWorld(databaseUrl: string, farEnds: { answer: number } & Partial<Record<FarEnd, number>>): Promise<void> {
  const db = await openDatabaseUrl(databaseUrl);
  try {
    await db.migrate();
    await seedCallWorld(db, { ...allFarEndsAt(farEnds.answer), ...farEnds }, 'udp');
  } finally {
    await db.close();
  }
}

/** Short timers for every fault test: T1 100 ms, grants of a few seconds, checkpoints every second. */
export function faultConfig(over: ConfigPatch = {}): ConfigPatch {
  return merge({
    edge: { timers: { t1: 100, t2: 800, t4: 1000, timerC: 20_000 }, appDisconnectGraceSeconds: 2, drainSeconds: 5 },
    prepaid: { grantSeconds: 5, reauthLeadSeconds: 2, heartbeatSeconds: 1, checkpointSeconds: 1, instanceStaleSeconds: 3 },
    calls: { noAnswerSeconds: 3, drainSeconds: 2, sipServerLostSeconds: 5 },
    supervisor: { restartDelaySeconds: 0.5, maxRestartDelaySeconds: 2, stableSeconds: 5, killAfterSeconds: 20 },
  }, over);
}

/** A SIPp far end (callee side) with its message trace. */
export async function startCallee(scenario: string, opts: Partial<SippOptions> = {}): Promise<SippProcess & { messages(): TracedMessage[] }> {
  const file = traceFile(`callee-${path.basename(scenario, '.xml')}`);
  const sipp = await startSipp({
    scenario: { file: path.join(SCENARIOS, scenario) }, transport: 'udp', timeoutMs: 300_000, ...opts,
    extraArgs: [...traceArgs(file), ...(opts.extraArgs ?? [])],
  });
  if (sipp.child.exitCode !== null) {
    const r = await sipp.done;
    throw new Error(`far end ${scenario} did not start (exit ${r.exitCode}): ${r.stdout.slice(-600)} ${r.stderr.slice(-600)}`);
  }
  return Object.assign(sipp, { messages: () => readMessageTrace(file) });
}

export interface TracedCallers {
  sipp: SippProcess;
  traceFile: string;
  /** The calls as the caller saw them so far. */
  farEnd(): Map<string, FarEndCall>;
  /** Waits (bounded) until `n` calls are answered; returns their Call-IDs. */
  answered(n: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<SippResult>;
}

/** `calls` calls from Alice (the PBX side) to Tollgate's SIP port, all at once, traced. */
export async function startCallers(sipPort: number, opts: { calls: number; dialled: string; scenario?: string; timeoutMs?: number }): Promise<TracedCallers> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-fault-callers-'));
  const csv = path.join(dir, 'callers.csv');
  fs.writeFileSync(csv, `SEQUENTIAL\n${Array.from({ length: opts.calls }, () => `${CALLER};${opts.dialled};`).join('\n')}\n`);
  const file = path.join(dir, 'callers.msg');
  const sipp = await startSipp({
    scenario: { file: path.join(SCENARIOS, opts.scenario ?? 'fault-uac-call-refreshed-expect-bye.xml') }, transport: 'udp',
    target: `127.0.0.1:${sipPort}`, injection: csv, calls: opts.calls, rate: 20, limit: opts.calls, timeoutMs: opts.timeoutMs ?? 60_000,
    extraArgs: traceArgs(file),
  });
  const farEnd = () => callerView(readMessageTrace(file));
  return {
    sipp, traceFile: file, farEnd,
    answered: (n, timeoutMs = 15_000) => eventually(`${n} calls answered at the caller`, async () => {
      const ids = [...farEnd().values()].filter((c) => c.answeredAt !== undefined).map((c) => c.callId);
      return ids.length >= n ? ids : undefined;
    }, timeoutMs, 100),
    stop: () => sipp.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// The books

/** Waits (bounded) until every one of `calls` live reservations has a checkpoint of at least `seconds`. */
export async function checkpointsPast(databaseUrl: string, calls: number, seconds: number): Promise<void> {
  await eventually(`every call checkpointed past ${seconds} s`, async () => {
    const books = await readBooks(databaseUrl);
    const active = [...books.reservations.values()].filter((r) => r.state === 'active');
    return active.length === calls && active.every((r) => r.checkpointSeconds >= seconds);
  }, 15_000, 200);
}

export interface BilledCall {
  /** The caller leg's Call-ID (the SIPp caller's). */
  sipCallId: string;
  callId: string;
  /** The CDR itself names the caller's Call-ID (else the call was found through its reservation's recovery info). */
  cdrNamesSipCallId: boolean;
  billableSeconds: number;
  cost: Micros;
  releaseCause: string | null;
  disposition: string;
  sipStatus: number | null;
  sipReason: string | null;
}

interface CdrRow { call_id: string; sip_call_id: string | null; billable_seconds: number; cost: string; release_cause: string | null; disposition: string; sip_status: number | null; sip_reason: string | null }

/** Caller Call-ID → call id, from the dialogs a reservation's recovery info names (`<Call-ID>;from-tag=…`). */
type RecoveryDialogs = Map<string, string>;

async function readCdrs(databaseUrl: string): Promise<{ cdrs: CdrRow[]; dialogs: RecoveryDialogs }> {
  const u = new URL(databaseUrl);
  const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username) || 'root', password: decodeURIComponent(u.password), database: u.pathname.slice(1), supportBigNumbers: true, bigNumberStrings: true });
  try {
    const [rows] = await conn.query('SELECT call_id, sip_call_id, billable_seconds, CAST(cost AS CHAR) AS cost, release_cause, disposition, sip_status, sip_reason FROM cdrs') as unknown as [CdrRow[]];
    const [res] = await conn.query('SELECT call_id, recovery FROM reservations WHERE recovery IS NOT NULL') as unknown as [Array<{ call_id: string; recovery: string }>];
    const dialogs: RecoveryDialogs = new Map();
    for (const r of res) {
      try {
        for (const d of (JSON.parse(r.recovery) as { dialogs?: string[] }).dialogs ?? []) dialogs.set(d.split(';')[0]!, r.call_id);
      } catch { /* not JSON: no dialogs to map */ }
    }
    return { cdrs: rows, dialogs };
  } finally {
    await conn.end();
  }
}

/**
 * Waits (bounded) until everything is settled, then asserts the books: every balance = its ledger,
 * no active reservation and nothing reserved, exactly one CDR per call (by call id, and one per
 * caller Call-ID given), every CDR's cost = its ledger charge and no charge without a CDR.
 * Returns the billed figures of the given calls, in their order. A CDR is found by the caller's
 * Call-ID it names, else through the dialogs of its reservation's recovery info (`cdrNamesSipCallId`
 * says which; tests assert it after the talk time, so the figures print either way).
 */
export async function checkBooks(databaseUrl: string, opts: { sipCallIds: string[]; timeoutMs?: number }): Promise<BilledCall[]> {
  const settled = async () => {
    const [books, { cdrs, dialogs }] = await Promise.all([readBooks(databaseUrl), readCdrs(databaseUrl)]);
    const cdrsOf = (sipCallId: string) => {
      const named = cdrs.filter((c) => c.sip_call_id === sipCallId);
      const viaRecovery = dialogs.get(sipCallId);
      return named.length > 0 || viaRecovery === undefined ? { rows: named, named: true } : { rows: cdrs.filter((c) => c.call_id === viaRecovery), named: false };
    };
    const done = books.openReservations === 0 && books.reservedTotal === 0n && opts.sipCallIds.every((id) => cdrsOf(id).rows.length > 0);
    return { books, cdrs, cdrsOf, done };
  };
  let state = await settled();
  try {
    state = await eventually('books settled (no open reservation, a CDR for every call)', async () => {
      const s = await settled();
      return s.done ? s : undefined;
    }, opts.timeoutMs ?? 20_000, 250);
  } catch {
    state = await settled(); // assert below says what is missing
  }
  const { books, cdrs, cdrsOf } = state;
  const problems: string[] = [...books.unbalanced.map((u) => `unbalanced ${u}`)];
  if (books.openReservations !== 0) problems.push(`${books.openReservations} reservations still active`);
  if (books.reservedTotal !== 0n) problems.push(`reserved total ${books.reservedTotal} micro-units`);
  const byCallId = new Map<string, CdrRow[]>();
  for (const c of cdrs) byCallId.set(c.call_id, [...(byCallId.get(c.call_id) ?? []), c]);
  for (const [id, rows] of byCallId) {
    if (rows.length !== 1) problems.push(`call ${id}: ${rows.length} CDRs`);
    const cost = parseMoney(rows[0]!.cost);
    const charge = books.charges.get(id) ?? 0n;
    if (cost !== charge) problems.push(`call ${id} (${rows[0]!.disposition}, ${rows[0]!.release_cause}): CDR cost ${cost} but ledger charge ${charge}`);
  }
  for (const id of books.charges.keys()) if (!byCallId.has(id)) problems.push(`call ${id}: ledger charge ${books.charges.get(id)} without a CDR`);
  const calls: BilledCall[] = [];
  for (const sipCallId of opts.sipCallIds) {
    const { rows, named } = cdrsOf(sipCallId);
    if (rows.length !== 1) { problems.push(`Call-ID ${sipCallId}: ${rows.length} CDRs`); continue; }
    const r = rows[0]!;
    calls.push({
      sipCallId, callId: r.call_id, cdrNamesSipCallId: named, billableSeconds: Number(r.billable_seconds), cost: parseMoney(r.cost),
      releaseCause: r.release_cause, disposition: r.disposition, sipStatus: r.sip_status === null ? null : Number(r.sip_status), sipReason: r.sip_reason,
    });
  }
  assert.deepEqual(problems, [], `the books (${cdrs.length} CDRs, ${opts.sipCallIds.length} calls of this test)`);
  return calls;
}

// ---------------------------------------------------------------------------------------------
// Talk time billed against the far end's clock

export interface TalkTimeFigures { calls: number; answered: number; billedSeconds: number; realSeconds: number; maxOverSeconds: number; maxUnderSeconds: number }

export interface TalkTimeOptions {
  label: string;
  /** No call billed more than this beyond its real end, none less than this short. */
  toleranceSeconds?: number;
  /**
   * Signalling between the product and SIPp takes milliseconds on loopback, more on a loaded
   * machine: the product's answer and end are not the very instants SIPp stamped. Added to the
   * tolerance and printed with the figures.
   */
  latencySeconds?: number;
  /** The real end of a call when the test knows it better than the caller (a process killed). */
  realEnd?: (call: FarEndCall) => number | undefined;
}

/**
 * Every one of the calls got its BYE from the network within `withinSeconds` of `since` (the end of
 * its grant), with a Reason that says the database is unavailable, never that the credit ran out.
 */
export function assertDatabaseCutoffs(farEnd: Map<string, FarEndCall>, sipCallIds: string[], opts: { since: number; withinSeconds: number; what: string }): void {
  for (const id of sipCallIds) {
    const c = farEnd.get(id)!;
    assert.equal(c.endedBy, 'network', id);
    const after = (c.endedAt! - opts.since) / 1000;
    assert.ok(after <= opts.withinSeconds, `${id}: BYE ${after.toFixed(3)} s after ${opts.what}: at the end of its grant`);
    assert.doesNotMatch(c.byeReason ?? '', /credit exhausted/i, `${id}: the money is there`);
    assert.match(c.byeReason ?? '', /database|unavailable/i, `${id}: the Reason says the database is unavailable: ${c.byeReason}`);
  }
}

/**
 * For every answered call: billed seconds against the real talk time (end − answer as the caller
 * saw them, or answer → `realEnd`). Billing counts whole seconds from the answer, rounded up, so a
 * call that is billed to its real end shows 0…1 s over; more than the tolerance either way fails.
 * Calls the caller never saw answered must be billed nothing. Prints the figures and returns them.
 */
export function assertTalkTime(calls: BilledCall[], farEnd: Map<string, FarEndCall>, opts: TalkTimeOptions): TalkTimeFigures {
  const tolerance = opts.toleranceSeconds ?? 1;
  const latency = opts.latencySeconds ?? 0.2;
  const problems: string[] = [];
  const fig: TalkTimeFigures = { calls: calls.length, answered: 0, billedSeconds: 0, realSeconds: 0, maxOverSeconds: 0, maxUnderSeconds: 0 };
  for (const call of calls) {
    const seen = farEnd.get(call.sipCallId);
    if (!seen) { problems.push(`${call.sipCallId}: not in the caller's trace`); continue; }
    if (seen.answeredAt === undefined) {
      if (call.billableSeconds !== 0 || call.cost !== 0n) problems.push(`${call.sipCallId}: never answered at the caller, billed ${call.billableSeconds} s (${call.cost})`);
      continue;
    }
    const end = opts.realEnd?.(seen) ?? seen.endedAt;
    if (end === undefined) { problems.push(`${call.sipCallId}: the caller saw no end`); continue; }
    const real = (end - seen.answeredAt) / 1000;
    const over = call.billableSeconds - real;
    fig.answered++;
    fig.billedSeconds += call.billableSeconds;
    fig.realSeconds += real;
    fig.maxOverSeconds = Math.max(fig.maxOverSeconds, over);
    fig.maxUnderSeconds = Math.max(fig.maxUnderSeconds, -over);
    if (over > tolerance + latency) problems.push(`${call.sipCallId}: billed ${call.billableSeconds} s, real ${real.toFixed(3)} s: ${over.toFixed(3)} s beyond its real end`);
    if (-over > tolerance + latency) problems.push(`${call.sipCallId}: billed ${call.billableSeconds} s, real ${real.toFixed(3)} s: ${(-over).toFixed(3)} s short`);
  }
  // Figures for the closing note: printed whether or not the assertion holds.
  console.log(`      [talk time] ${opts.label}: ${fig.calls} calls (${fig.answered} answered), billed ${fig.billedSeconds} s vs real ${fig.realSeconds.toFixed(3)} s, `
    + `max over ${fig.maxOverSeconds.toFixed(3)} s, max under ${fig.maxUnderSeconds.toFixed(3)} s `
    + `(tolerance ${tolerance} s + ${latency} s signalling latency; billing rounds up to whole seconds from answer)`);
  assert.deepEqual(problems, [], `talk time billed vs the far end's (${opts.label})`);
  return fig;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Child processes of a pid with their command lines (Linux /proc). */
export function childProcesses(pid: number): Array<{ pid: number; args: string[] }> {
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
  return children.map((c) => {
    let args: string[] = [];
    try { args = fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { /* exited meanwhile */ }
    return { pid: c, args };
  });
}

/** The pid of the child of `tollgate start` that runs the given command ('edge' or 'app'). */
export function supervisedPid(supervisorPid: number, command: 'edge' | 'app'): number | undefined {
  return childProcesses(supervisorPid).find((c) => c.args[c.args.length - 1] === command)?.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
