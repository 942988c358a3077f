import { QueryTypes, UniqueConstraintError } from 'sequelize';
import type { Micros } from '../common/money';
import type { Database } from './database';
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
}

const COLUMNS: Array<[keyof CdrRecord, string]> = [
  ['callId', 'call_id'], ['instanceId', 'instance_id'], ['sipCallId', 'sip_call_id'], ['inviteAt', 'invite_at'],
  ['answerAt', 'answer_at'], ['endAt', 'end_at'], ['callerDialled', 'caller_dialled'], ['callerE164', 'caller_e164'],
  ['calleeDialled', 'callee_dialled'], ['calleeE164', 'callee_e164'], ['presentedCaller', 'presented_caller'],
  ['scope', 'scope'], ['service', 'service'], ['vpnGroup', 'vpn_group'], ['accountId', 'account_id'],
  ['ingressTrunk', 'ingress_trunk'], ['egressTrunk', 'egress_trunk'], ['billableSeconds', 'billable_seconds'],
  ['grantedSeconds', 'granted_seconds'], ['disposition', 'disposition'], ['releaseCause', 'release_cause'],
  ['sipStatus', 'sip_status'], ['sipReason', 'sip_reason'], ['ruleId', 'rule_id'], ['tariffId', 'tariff_id'],
  ['currency', 'currency'], ['cost', 'cost'], ['ledgerKey', 'ledger_key'],
];

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

/** CDRs: written once per call (a second write of the same call id changes nothing). */
export class CdrRepository {
  private readonly money: MoneyColumns;

  constructor(private readonly db: Database) {
    this.money = new MoneyColumns(db.dialect);
  }

  /** Returns false when a CDR for this call id was already written. */
  async write(cdr: CdrRecord): Promise<boolean> {
    const cols = COLUMNS.map(([, c]) => c).concat('created_at');
    const values = COLUMNS.map(([k]) => {
      const v = cdr[k];
      if (k === 'cost') return this.money.bind(v as Micros, `cost of call ${cdr.callId}`);
      if (v instanceof Date) return sqlTime(v);
      return v ?? null;
    }).concat(sqlTime(new Date()));
    const sql = `INSERT INTO cdrs (${cols.join(', ')}) VALUES (${cols.map((c) => (c === 'cost' ? this.money.param('?') : '?')).join(', ')})`;
    try {
      await this.db.sequelize.query(sql, { replacements: values, type: QueryTypes.INSERT });
      return true;
    } catch (err) {
      if (err instanceof UniqueConstraintError) return false;
      throw err;
    }
  }

  async findByCallId(callId: string): Promise<CdrRecord | undefined> {
    return (await this.select('WHERE call_id = ?', [callId]))[0];
  }

  async list(opts: { accountId?: number; limit?: number } = {}): Promise<CdrRecord[]> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 100_000);
    if (opts.accountId !== undefined) return this.select(`WHERE account_id = ? ORDER BY id DESC LIMIT ${limit}`, [opts.accountId]);
    return this.select(`ORDER BY id DESC LIMIT ${limit}`, []);
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
      return out as unknown as CdrRecord;
    });
  }
}
