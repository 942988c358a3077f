import { formatMoney } from '../../lib/common/money';
import { CDR_DISPOSITIONS, type CdrCursor, type CdrDisposition, type CdrFilter, type CdrRecord } from '../../lib/db/cdr-repository';
import { AppError } from '../../lib/common/errors';

/**
 * CDRs as the CLI and the admin API give them out: the same fields in the same order in JSON and
 * CSV, money as a decimal string, instants as ISO 8601 UTC.
 */

export const CDR_FIELDS = [
  'callId', 'sipCallId', 'instanceId', 'inviteAt', 'answerAt', 'endAt', 'disposition', 'releaseCause', 'sipStatus', 'sipReason',
  'callerDialled', 'callerE164', 'calleeDialled', 'calleeE164', 'presentedCaller', 'scope', 'service', 'vpnGroup', 'accountId',
  'ingressTrunk', 'egressTrunk', 'billableSeconds', 'grantedSeconds', 'ruleId', 'tariffId', 'currency', 'cost', 'ledgerKey',
  'charging',
] as const;

export type CdrJson = Record<(typeof CDR_FIELDS)[number], string | number | null>;

export function cdrJson(c: CdrRecord): CdrJson {
  const out = {} as CdrJson;
  for (const f of CDR_FIELDS) {
    const v = c[f];
    out[f] = v instanceof Date ? v.toISOString() : f === 'cost' ? formatMoney(c.cost) : ((v ?? null) as string | number | null);
  }
  return out;
}

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function cdrCsvHeader(): string {
  return `${CDR_FIELDS.join(',')}\r\n`;
}

export function cdrCsvLine(c: CdrRecord): string {
  const j = cdrJson(c);
  return `${CDR_FIELDS.map((f) => csvField(j[f])).join(',')}\r\n`;
}

/** A page cursor as one opaque URL-safe token. */
export function encodeCursor(c: CdrCursor): string {
  return Buffer.from(JSON.stringify([c.inviteAt.toISOString(), c.callId])).toString('base64url');
}

export function decodeCursor(token: string): CdrCursor {
  try {
    const [at, callId] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [string, string];
    const inviteAt = new Date(at);
    if (typeof callId !== 'string' || Number.isNaN(inviteAt.getTime())) throw new Error('bad cursor');
    return { inviteAt, callId };
  } catch {
    throw new AppError('BAD_REQUEST', 'cursor is not one this API gave out (use the "next" of the previous page)');
  }
}

/** The filter fields as text (CLI options, query string), before the account is resolved. */
export interface CdrFilterText {
  from?: string;
  to?: string;
  group?: string;
  caller?: string;
  disposition?: string;
}

/**
 * An instant as an operator types it: ISO 8601; a date or date-time without a zone is UTC.
 * `what` names the option or field in the error.
 */
export function parseInstant(text: string, what: string): Date {
  const t = text.trim();
  const local = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?$/.exec(t);
  const d = new Date(local ? `${t.replace(' ', 'T')}${local[1] ? '' : 'T00:00:00'}Z` : t);
  if (Number.isNaN(d.getTime())) throw new AppError('BAD_REQUEST', `${what} must be an ISO 8601 date or date-time (UTC unless a zone is given), not ${JSON.stringify(text)}`);
  return d;
}

export function isDisposition(v: string): v is CdrDisposition {
  return (CDR_DISPOSITIONS as readonly string[]).includes(v);
}

/** The filter without its account (which the caller resolves from an id or code). */
export function cdrFilterFrom(t: CdrFilterText, names: Record<keyof CdrFilterText, string>): CdrFilter {
  const f: CdrFilter = {};
  if (t.from !== undefined) f.from = parseInstant(t.from, names.from);
  if (t.to !== undefined) f.to = parseInstant(t.to, names.to);
  if (f.from && f.to && f.from >= f.to) throw new AppError('BAD_REQUEST', `${names.from} must be before ${names.to}`);
  if (t.group !== undefined) f.vpnGroup = t.group;
  // The caller's form and the disposition are checked by the schema (cdrFilterQuery, or the
  // route's own querystring schema) before this; the disposition is narrowed once more for the type.
  if (t.caller !== undefined) f.caller = t.caller;
  if (t.disposition !== undefined) {
    if (!isDisposition(t.disposition)) throw new AppError('BAD_REQUEST', `${names.disposition} must be one of ${CDR_DISPOSITIONS.join(', ')}, not ${JSON.stringify(t.disposition)}`);
    f.disposition = t.disposition;
  }
  return f;
}
