import { formatMoney } from '../../lib/common/money';
import type { Account, LedgerEntry } from '../../lib/prepaid';
import type { CallQuote, PriceBreakdown } from '../../lib/rating';
import type { LiveCallView } from '../calls/call-session';

/** What the API returns: money as decimal strings, instants as ISO 8601 UTC. */

export function accountJson(a: Account): Record<string, unknown> {
  return {
    id: a.id, code: a.code, kind: a.kind, currency: a.currency, status: a.status,
    balance: formatMoney(a.balance), reserved: formatMoney(a.reserved), available: formatMoney(a.balance + a.creditLimit - a.reserved),
    creditLimit: formatMoney(a.creditLimit), lowBalanceThreshold: a.lowBalanceThreshold === null ? null : formatMoney(a.lowBalanceThreshold),
    maxCalls: a.maxCalls, liveCalls: a.liveCalls, expiresAt: a.expiresAt?.toISOString() ?? null,
    createdAt: a.createdAt.toISOString(), updatedAt: a.updatedAt.toISOString(),
  };
}

export function entryJson(e: LedgerEntry): Record<string, unknown> {
  return {
    id: e.id, accountId: e.accountId, kind: e.kind, amount: formatMoney(e.amount), balanceAfter: formatMoney(e.balanceAfter),
    key: e.idempotencyKey, callId: e.callId, note: e.note, createdAt: e.createdAt.toISOString(),
  };
}

export function liveCallJson(c: LiveCallView): Record<string, unknown> {
  return {
    callId: c.callId, state: c.state, caller: c.caller, callee: c.callee, scope: c.scope,
    start: c.inviteAt.toISOString(), answeredAt: c.answerAt?.toISOString() ?? null,
    grantedSeconds: c.grantedSeconds, remainingSeconds: c.remainingSeconds === null ? null : Math.round(c.remainingSeconds * 10) / 10,
    sipCallId: c.sipCallId, accountId: c.accountId, ingressTrunk: c.ingressTrunk, egressTrunk: c.egressTrunk,
    currency: c.currency, reserved: formatMoney(c.reserved), spent: formatMoney(c.spent),
  };
}

/** The tariff dry run: the same fields as `tollgate tariff rate --json`, plus the matched rule's codes. */
export function quoteJson(quote: CallQuote, b: PriceBreakdown): Record<string, unknown> {
  return {
    ruleId: b.ruleId, tariffId: b.tariffId, tariffCode: quote.rule.tariff.code, currency: b.currency, seconds: b.seconds,
    freeSeconds: b.freeSeconds, chargedSeconds: b.chargedSeconds, connectFee: formatMoney(b.connectFee), subtotal: formatMoney(b.subtotal),
    minimumCharge: formatMoney(b.minimumCharge), minimumApplied: b.minimumApplied, price: formatMoney(b.total),
    pieces: b.pieces.map((p) => ({
      ruleId: p.ruleId, tariffId: p.tariffId, startsAt: p.startsAt.toISOString(), fromSecond: p.fromSecond, toSecond: p.toSecond,
      increments: p.increments, incrementSeconds: p.incrementSeconds, pricePerIncrement: formatMoney(p.pricePerIncrement), amount: formatMoney(p.amount),
    })),
  };
}
