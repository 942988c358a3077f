import type { Micros } from '../common/money';

/**
 * Group budgets: an enterprise's business calls are paid from the group's pool (a prepaid
 * account), and a member may have caps on top, per call, per day and per month. A call holds the
 * same money on the pool and on the member's cap account of the day and of the month, all or none
 * (one reservation across balances), and is charged on each, so under any race neither the pool
 * nor a cap is overspent. A per-call cap bounds the call's length instead: the most seconds the cap buys.
 *
 * A cap account is an ordinary prepaid account per member and period, opened at the member's first
 * call of the period with the cap as its balance: what is left of it is the cap still unspent.
 */

export type CapPeriod = 'day' | 'month';

export interface MemberCaps {
  perCall: Micros | null;
  perDay: Micros | null;
  perMonth: Micros | null;
}

export const NO_CAPS: Readonly<MemberCaps> = Object.freeze({ perCall: null, perDay: null, perMonth: null });

/** The budget a business call of a member is under: who pays, and the member's caps. */
export interface CallBudget {
  /** The group's pool, or the member's subscriber account when the group has none. */
  payerAccountId: number;
  pool: boolean;
  memberId: number;
  caps: MemberCaps;
}

/** One cap account a call holds money on. */
export interface CapHold {
  period: CapPeriod;
  /** Local date the period starts ("2026-12-01"; a month starts on its first day). */
  start: string;
  cap: Micros;
  /** The cap account's code: one account per member and period. */
  accountCode: string;
}

export function hasCaps(caps: MemberCaps): boolean {
  return caps.perCall !== null || caps.perDay !== null || caps.perMonth !== null;
}

export function capAccountCode(memberId: number, period: CapPeriod, start: string): string {
  return `cap:m${memberId}:${period}:${start}`;
}

/** The local day and the first day of the local month of an instant, given the zone's UTC offset then. */
export function localPeriods(at: Date, offsetMs: number): Record<CapPeriod, string> {
  const day = new Date(at.getTime() + offsetMs).toISOString().slice(0, 10);
  return { day, month: `${day.slice(0, 8)}01` };
}

/** The cap accounts a call starting at `at` holds money on (none without day or month caps). */
export function capHolds(budget: CallBudget, at: Date, offsetMs: number): CapHold[] {
  const periods = localPeriods(at, offsetMs);
  const holds: CapHold[] = [];
  const { perDay, perMonth } = budget.caps;
  if (perDay !== null) holds.push({ period: 'day', start: periods.day, cap: perDay, accountCode: capAccountCode(budget.memberId, 'day', periods.day) });
  if (perMonth !== null) holds.push({ period: 'month', start: periods.month, cap: perMonth, accountCode: capAccountCode(budget.memberId, 'month', periods.month) });
  return holds;
}

/** The idempotency key of the top-up that opens a cap account with its cap: one per account, ever. */
export function capOpeningKey(accountCode: string): string {
  return `${accountCode}:opening`;
}
