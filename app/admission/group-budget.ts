import type { AccountService } from '../../lib/prepaid';
import { PrepaidError } from '../../lib/prepaid/errors';
import type { RatingService } from '../../lib/rating';
import type { Logger } from '../../lib/common/logger';
import { capHolds, capOpeningKey, ratingZoneOffset, type CapHold, type MemberCaps, type VpnService } from '../../lib/vpn';
import type { AdmissionStep } from '../calls/types';

const MAX_CACHED = 100_000;
/** How far ahead cap accounts are opened: the next period's too when it begins within this. */
export const CAP_LOOKAHEAD_MS = 10 * 60_000;

/** A capped member as the directory gives it: who pays its business calls, and its caps. */
export interface CappedMember {
  memberId: number;
  payerAccountId: number;
  caps: MemberCaps;
}

/**
 * A member's cap accounts, one per member and period: found by code, opened with the cap as
 * their balance at the first call of the period. Two instances opening one at once both end up
 * with the same account (its code is unique), and the opening top-up has one idempotency key, so
 * the cap is credited once.
 */
export class CapAccounts {
  private readonly known = new Map<string, number>();
  /** Opening in progress: a member's calls that start together wait for one opening, not race it. */
  private readonly opening = new Map<string, Promise<number>>();

  constructor(private readonly accounts: AccountService) {}

  open(hold: CapHold, currency: string): Promise<number> {
    const cached = this.known.get(hold.accountCode);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.opening.get(hold.accountCode);
    if (!pending) {
      pending = this.openNow(hold, currency).finally(() => this.opening.delete(hold.accountCode));
      this.opening.set(hold.accountCode, pending);
    }
    return pending;
  }

  /**
   * Opens the cap accounts of every capped member for the periods of `at` (and so fills the
   * cache), so that a member's first call of a period costs no more than any other: at start and
   * then every interval, ahead of midnight. Bounded by the number of capped members.
   */
  async openAhead(vpn: VpnService, rating: RatingService, at: Date, logger: Logger): Promise<number> {
    const offset = ratingZoneOffset(rating.current().ruleSet, at);
    let opened = 0;
    for (const m of vpn.directory.cappedMembers()) {
      try {
        opened += await this.openMember(m, [at], () => offset);
      } catch (err) {
        logger.warn('cap account not opened ahead; the member\'s next call opens it', { memberId: m.memberId, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return opened;
  }

  /**
   * Opens one member's cap accounts for the periods of each moment (now and a little ahead, when
   * its caps are set or changed): its next call finds them open and is capped at once.
   * `offsetAt` is the rating time zone's offset at a moment. Returns how many it holds.
   */
  async openMember(m: CappedMember, moments: Date[], offsetAt: (at: Date) => number): Promise<number> {
    if (m.caps.perDay === null && m.caps.perMonth === null) return 0;
    const currency = (await this.accounts.require(m.payerAccountId)).currency;
    const codes = new Set<string>();
    for (const at of moments) {
      for (const hold of capHolds({ payerAccountId: m.payerAccountId, pool: true, memberId: m.memberId, caps: m.caps }, at, offsetAt(at))) {
        if (codes.has(hold.accountCode)) continue;
        codes.add(hold.accountCode);
        await this.open(hold, currency);
      }
    }
    return codes.size;
  }

  private async openNow(hold: CapHold, currency: string): Promise<number> {
    let id: number;
    try {
      const existing = await this.accounts.resolve(hold.accountCode);
      id = existing.id;
      // Money on it or held by calls: it was opened (its top-up is in); nothing more to ask.
      if (existing.balance !== 0n || existing.reserved !== 0n) return this.remember(hold.accountCode, id);
    } catch (err) {
      if (!(err instanceof PrepaidError) || err.code !== 'UNKNOWN_ACCOUNT') throw err;
      try {
        id = (await this.accounts.create({ code: hold.accountCode, kind: 'prepaid', currency })).id;
      } catch (e) {
        if (!(e instanceof PrepaidError) || e.code !== 'DUPLICATE_ACCOUNT') throw e;
        id = (await this.accounts.resolve(hold.accountCode)).id;
      }
    }
    try {
      await this.accounts.topup(id, hold.cap, capOpeningKey(hold.accountCode), { note: `${hold.period} cap from ${hold.start}` });
    } catch (err) {
      // The cap was changed within the period: the account keeps the cap it opened with.
      if (!(err instanceof PrepaidError) || err.code !== 'IDEMPOTENCY_CONFLICT') throw err;
    }
    return this.remember(hold.accountCode, id);
  }

  private remember(code: string, id: number): number {
    if (this.known.size >= MAX_CACHED) this.known.clear();
    this.known.set(code, id);
    return id;
  }
}

/**
 * A business call under a group budget: the pool pays (the resolution made it the call's
 * account), the member's day and month cap accounts hold the same money, and a per-call cap
 * bounds the call to the seconds it buys. Comes after rating (the caps are priced by the call's
 * tariff) and before authorisation, which holds the money on all of them at once.
 */
/**
 * After a member's caps were set or changed in the directory in force: open its cap accounts for
 * now and the look-ahead. A failure is logged; the member's next call opens them itself.
 */
export async function openCapsOfMember(caps: CapAccounts, vpn: VpnService, rating: RatingService, memberId: number, at: Date, logger: Logger): Promise<number> {
  const entry = vpn.directory.member(memberId);
  if (!entry?.member.caps) return 0;
  const member = { memberId, payerAccountId: entry.group.group.poolAccountId ?? entry.subscriber.accountId, caps: entry.member.caps };
  try {
    return await caps.openMember(member, [at, new Date(at.getTime() + CAP_LOOKAHEAD_MS)], (t) => ratingZoneOffset(rating.current().ruleSet, t));
  } catch (err) {
    logger.warn('cap accounts not opened on the cap change; the member\'s next call opens them', { memberId, error: err instanceof Error ? err.message : String(err) });
    return 0;
  }
}

export function applyGroupBudget(caps: CapAccounts, rating: RatingService): AdmissionStep {
  return async (call) => {
    const budget = call.resolution!.budget;
    if (!budget) return;
    const quote = call.quote!;
    if (budget.caps.perCall !== null) call.maxSeconds = quote.maxSeconds(budget.caps.perCall);
    const holds = capHolds(budget, call.inviteAt, ratingZoneOffset(rating.current().ruleSet, call.inviteAt));
    const ids: number[] = [];
    for (const hold of holds) ids.push(await caps.open(hold, quote.currency));
    if (ids.length > 0) call.extraHolds = ids;
  };
}
