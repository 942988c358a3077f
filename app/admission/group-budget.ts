import type { AccountService } from '../../lib/prepaid';
import { PrepaidError } from '../../lib/prepaid/errors';
import type { RatingService } from '../../lib/rating';
import { capHolds, capOpeningKey, ratingZoneOffset, type CapHold } from '../../lib/vpn';
import type { AdmissionStep } from '../calls/types';

const MAX_CACHED = 100_000;

/**
 * A member's cap accounts, one per member and period: found by code, opened with the cap as
 * their balance at the first call of the period. Two instances opening one at once both end up
 * with the same account (its code is unique), and the opening top-up has one idempotency key, so
 * the cap is credited once.
 */
export class CapAccounts {
  private readonly known = new Map<string, number>();

  constructor(private readonly accounts: AccountService) {}

  async open(hold: CapHold, currency: string): Promise<number> {
    const cached = this.known.get(hold.accountCode);
    if (cached !== undefined) return cached;
    let id: number;
    try {
      id = (await this.accounts.resolve(hold.accountCode)).id;
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
    if (this.known.size >= MAX_CACHED) this.known.clear();
    this.known.set(hold.accountCode, id);
    return id;
  }
}

/**
 * A business call under a group budget: the pool pays (the resolution made it the call's
 * account), the member's day and month cap accounts hold the same money, and a per-call cap
 * bounds the call to the seconds it buys. Comes after rating (the caps are priced by the call's
 * tariff) and before authorisation, which holds the money on all of them at once.
 */
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
