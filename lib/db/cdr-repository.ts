import { QueryTypes, UniqueConstraintError } from 'sequelize';
import type { Micros } from '../common/money';
import { GroupCommit, type Database } from './database';
import { isUnreachable } from './prepaid-repository';
import { MoneyColumns } from './money-column';

export type CdrDisposition = 'answered' | 'busy' | 'no_answer' | 'cancelled' | 'failed' | 'refused';

/** One call detail record, written once per call whatever its outcome. */
export interface CdrRecord {
  callId: string;
  instanceId: string | null;
  sipCallId: string | null;
  inviteAt: Date;
  answerAt: Date | null;
  endAt: Date;
  callerDialled: string | null;
  callerE164: string | null;
  calleeDialled: string | null;
  calleeE164: string | null;
  presentedCaller: string | null;
  scope: string | null;
  service: string | null;
  vpnGroup: string | null;
  accountId: number | null;
  ingressTrunk: string | null;
  egressTrunk: string | null;
  billableSeconds: number;
  grantedSeconds: number;
  disposition: CdrDisposition;
  releaseCause: string | null;
  sipStatus: number | null;
  sipReason: string | null;
  ruleId: number | null;
  tariffId: number | null;
  currency: string | null;
  cost: Micros;
  ledgerKey: string | null;
  /** Who paid a VPN member's call: 'business' (the enterprise) or 'private' (the member's personal account); null otherwise. */
  charging?: string | null;
}

const COLUMNS: Array<[keyof CdrRecord, string]> = [
  ['callId', 'call_id'], ['instanceId', 'instance_id'], ['sipCallId', 'sip_call_id'], ['inviteAt', 'invite_at'],
  ['answerAt', 'answer_at'], ['endAt', 'end_at'], ['callerDialled', 'caller_dialled'], ['callerE164', 'caller_e164'],
  ['calleeDialled', 'callee_dialled'], ['calleeE164', 'callee_e164'], ['presentedCaller', 'presented_caller'],
  ['scope', 'scope'], ['service', 'service'], ['vpnGroup', 'vpn_group'], ['accountId', 'account_id'],
  ['ingressTrunk', 'ingress_trunk'], ['egressTrunk', 'egress_trunk'], ['billableSeconds', 'billable_seconds'],
  ['grantedSeconds', 'granted_seconds'], ['disposition', 'disposition'], ['releaseCause', 'release_cause'],
  ['sipStatus', 'sip_status'], ['sipReason', 'sip_reason'], ['ruleId', 'rule_id'], ['tariffId', 'tariff_id'],
  ['currency', 'currency'], ['cost', 'cost'], ['ledgerKey', 'ledger_key'], ['charging', 'charging'],
];

/** The fields of a CDR that the settlement's own row gives (migration 0010), so they agree with the books. */
const FROM_SETTLEMENT = new Set<keyof CdrRecord>(['callId', 'billableSeconds', 'cost', 'ledgerKey']);

/**
 * A CDR as the call record a settlement carries (CloseReservation.callRecord): a JSON object of
 * cdrs columns, null fields left out (JSON null reads differently on the two dialects), times as
 * the columns store them. Call id, billable seconds, cost and ledger key come from the settlement.
 */
export function callRecordText(cdr: CdrRecord): string {
  const out: Record<string, string | number> = {};
  for (const [k, column] of COLUMNS) {
    const v = cdr[k];
    if (FROM_SETTLEMENT.has(k) || v === null || v === undefined) continue;
    out[column] = v instanceof Date ? sqlTime(v) : typeof v === 'bigint' ? v.toString() : v as string | number;
  }
  return JSON.stringify(out);
}

/** What CDR reads select on; every field is optional and they combine with AND. */
export interface CdrFilter {
  /** INVITE at or after. */
  from?: Date;
  /** INVITE before. */
  to?: Date;
  accountId?: number;
  vpnGroup?: string;
  /** The caller's E.164 number or the digits as received; a trailing `*` matches a prefix. */
  caller?: string;
  disposition?: CdrDisposition;
}

/** Where a page of CDRs ends: the next page starts after this row. */
export interface CdrCursor { inviteAt: Date; callId: string }

export interface CdrPage { cdrs: CdrRecord[]; next: CdrCursor | null }

export const CDR_DISPOSITIONS: readonly CdrDisposition[] = ['answered', 'busy', 'no_answer', 'cancelled', 'failed', 'refused'];

function cdrConditions(f: CdrFilter): { conditions: string[]; replacements: unknown[] } {
  const conditions: string[] = [];
  const replacements: unknown[] = [];
  const add = (sql: string, ...values: unknown[]) => { conditions.push(sql); replacements.push(...values); };
  if (f.from) add('invite_at >= ?', sqlTime(f.from));
  if (f.to) add('invite_at < ?', sqlTime(f.to));
  if (f.accountId !== undefined) add('account_id = ?', f.accountId);
  if (f.vpnGroup !== undefined) add('vpn_group = ?', f.vpnGroup);
  if (f.disposition !== undefined) add('disposition = ?', f.disposition);
  if (f.caller !== undefined) {
    const digits = f.caller.replace(/^\+/, '');
    if (digits.endsWith('*')) {
      const like = `${digits.slice(0, -1).replace(/[!%_]/g, (c) => `!${c}`)}%`;
      add("(caller_e164 LIKE ? ESCAPE '!' OR caller_dialled LIKE ? ESCAPE '!')", like, like);
    } else {
      add('(caller_e164 = ? OR caller_dialled = ?)', digits, digits);
    }
  }
  return { conditions, replacements };
}

/** UTC with milliseconds, as both MySQL DATETIME(3) and SQLite read it. */
function sqlTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** Integer columns some drivers hand back as strings. */
const INTEGER_FIELDS = ['accountId', 'billableSeconds', 'grantedSeconds', 'sipStatus', 'ruleId', 'tariffId'] as const;

function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v).replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(String(v)) ? '' : 'Z'));
}

/** At most this many CDRs go in one INSERT (29 parameters each). */
const MAX_BATCH = 200;

/**
 * CDRs: written once per call (a second write of the same call id changes nothing). Writes are
 * group-committed: a CDR written while another is in flight waits for it and then goes with the
 * others waiting as one multi-row INSERT, so under load the calls share statements and commits,
 * and alone a CDR is written at once. A call id written before (a replay) fails its batch, whose
 * CDRs are then written each alone, so every write still answers whether it was new.
 */
export class CdrRepository {
  private readonly money: MoneyColumns;
  private readonly writes: GroupCommit<unknown[], boolean>;

  constructor(private readonly db: Database) {
    this.money = new MoneyColumns(db.dialect);
    this.writes = new GroupCommit<unknown[], boolean>(MAX_BATCH, async (values) => {
      try {
        await this.insert([values]);
        return true;
      } catch (err) {
        if (err instanceof UniqueConstraintError) return false;
        throw err;
      }
    }, async (rows) => {
      await this.insert(rows);
      return rows.map(() => true);
    }, isUnreachable);
  }

  /** Returns false when a CDR for this call id was already written. */
  async write(cdr: CdrRecord): Promise<boolean> {
    // A value the table cannot hold fails this write alone, before it joins a batch.
    const values = COLUMNS.map(([k]) => {
      const v = cdr[k];
      if (k === 'cost') return this.money.bind(v as Micros, `cost of call ${cdr.callId}`);
      return v instanceof Date ? sqlTime(v) : v ?? null;
    });
    return this.writes.run(values);
  }

  private async insert(rows: unknown[][]): Promise<void> {
    const cols = COLUMNS.map(([, c]) => c).concat('created_at');
    const now = sqlTime(new Date());
    const row = `(${cols.map((c) => (c === 'cost' ? this.money.param('?') : '?')).join(', ')})`;
    const sql = `INSERT INTO cdrs (${cols.join(', ')}) VALUES ${rows.map(() => row).join(', ')}`;
    const values = rows.flatMap((row) => [...row, now]);
    // One CDR is a statement sent again and again; a batch's text changes with its size, and a
    // prepared statement per size would be prepared again on every connection.
    if (this.db.direct) await this.db.direct.query(sql, values, rows.length === 1 ? 'prepared' : 'formatted');
    else await this.db.sequelize.query(sql, { replacements: values, type: QueryTypes.INSERT });
  }

  async findByCallId(callId: string): Promise<CdrRecord | undefined> {
    return (await this.select('WHERE call_id = ?', [callId]))[0];
  }

  async list(opts: { accountId?: number; limit?: number } = {}): Promise<CdrRecord[]> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 100_000);
    if (opts.accountId !== undefined) return this.select(`WHERE account_id = ? ORDER BY id DESC LIMIT ${limit}`, [opts.accountId]);
    return this.select(`ORDER BY id DESC LIMIT ${limit}`, []);
  }

  /** The CDR of a call by its SIP Call-ID (the caller's leg), the latest when a Call-ID came twice. */
  async findBySipCallId(sipCallId: string): Promise<CdrRecord | undefined> {
    return (await this.select('WHERE sip_call_id = ? ORDER BY invite_at DESC LIMIT 1', [sipCallId]))[0];
  }

  /**
   * One page of CDRs matching the filter, by INVITE time (newest first unless asked otherwise),
   * and the cursor of the next page (null on the last). Keyset paging on (invite_at, call_id), so
   * a page costs the same however deep it is and rows written meanwhile never shift it.
   */
  async findPage(filter: CdrFilter, page: { limit: number; after?: CdrCursor; order?: 'asc' | 'desc' }): Promise<CdrPage> {
    const limit = Math.min(Math.max(Math.trunc(page.limit), 1), 10_000);
    const order = page.order ?? 'desc';
    const { conditions, replacements } = cdrConditions(filter);
    if (page.after) {
      const cmp = order === 'desc' ? '<' : '>';
      conditions.push(`(invite_at ${cmp} ? OR (invite_at = ? AND call_id ${cmp} ?))`);
      replacements.push(sqlTime(page.after.inviteAt), sqlTime(page.after.inviteAt), page.after.callId);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const dir = order === 'desc' ? 'DESC' : 'ASC';
    const rows = await this.select(`${where} ORDER BY invite_at ${dir}, call_id ${dir} LIMIT ${limit + 1}`, replacements);
    const more = rows.length > limit;
    const cdrs = more ? rows.slice(0, limit) : rows;
    const last = cdrs[cdrs.length - 1];
    return { cdrs, next: more && last ? { inviteAt: last.inviteAt, callId: last.callId } : null };
  }

  /** Every CDR matching the filter, oldest first, read a page at a time (memory bounded by the page). */
  async *stream(filter: CdrFilter, pageSize = 500): AsyncGenerator<CdrRecord> {
    let after: CdrCursor | undefined;
    // Bounded: 10^5 pages of up to 10^4 rows.
    for (let i = 0; i < 100_000; i++) {
      const page = await this.findPage(filter, { limit: pageSize, after, order: 'asc' });
      for (const cdr of page.cdrs) yield cdr;
      if (!page.next) return;
      after = page.next;
    }
  }

  private async select(where: string, replacements: unknown[]): Promise<CdrRecord[]> {
    const rows = await this.db.sequelize.query<Record<string, unknown>>(`SELECT *, ${this.money.read('cost', 'cost_exact')} FROM cdrs ${where}`, { replacements, type: QueryTypes.SELECT });
    return rows.map((r) => {
      const out: Record<string, unknown> = {};
      for (const [k, c] of COLUMNS) out[k] = r[c];
      out.inviteAt = toDate(r.invite_at);
      out.answerAt = toDate(r.answer_at);
      out.endAt = toDate(r.end_at);
      out.cost = this.money.parse(r.cost_exact, { table: 'cdrs', column: 'cost', id: r.id });
      for (const k of INTEGER_FIELDS) out[k] = out[k] === null || out[k] === undefined ? null : Number(out[k]);
      // Only a VPN member's call says who paid; other records stay as they were written.
      if (out.charging === null || out.charging === undefined) delete out.charging;
      return out as unknown as CdrRecord;
    });
  }
}
