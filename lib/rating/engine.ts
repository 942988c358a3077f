/**
 * The rating engine: service attributes and a start instant → the charging rule in force → a
 * CallQuote that prices any number of billable seconds exactly, and inverts that price.
 */
import { LocalClock } from './calendar';
import { RatingError } from './errors';
import { MAX_PREFIX_DIGITS } from './prefix-index';
import { CallQuote, type QuoteOptions } from './quote';
import type { RuleSet } from './rule-set';
import { DAY_MS } from './time-zone';
import type { ChargingRule, ServiceAttributes } from './types';

export interface RatingEngineOptions {
  /** Upper bound of maxSeconds (a tariff that costs nothing would otherwise buy forever). */
  maxCallSeconds?: number;
}

export const DEFAULT_MAX_CALL_SECONDS = 86_400;

export class RatingEngine {
  private readonly clock: LocalClock;
  private readonly path = new Int32Array(MAX_PREFIX_DIGITS + 1);
  private readonly quoteOptions: QuoteOptions;

  constructor(readonly ruleSet: RuleSet, options: RatingEngineOptions = {}) {
    this.clock = new LocalClock(ruleSet.calendar);
    this.quoteOptions = { maxCallSeconds: options.maxCallSeconds ?? DEFAULT_MAX_CALL_SECONDS };
  }

  /** The rule in force for the attributes at the instant, or undefined. The hot path: allocates nothing. */
  findRule(attrs: ServiceAttributes, at: Date | number): ChargingRule | undefined {
    const ms = typeof at === 'number' ? at : at.getTime();
    const index = this.ruleSet.index;
    const n = index.path(attrs.service, attrs.destination, this.path);
    if (n === 0) return undefined;
    const plan = attrs.callerPlan ?? null, group = attrs.vpnGroup ?? null;
    this.clock.aim(ms);
    for (let i = n - 1; i >= 0; i--) {
      const rules = index.rulesAt(this.path[i]!);
      for (let j = 0; j < rules.length; j++) {
        const r = rules[j]!;
        if (r.callerPlan !== null && r.callerPlan !== plan) continue;
        if (r.vpnGroup !== null && r.vpnGroup !== group) continue;
        if (ruleInForce(r, this.clock)) return r;
      }
    }
    return undefined;
  }

  /**
   * A quote bound to one call and its start instant (the answer, or the INVITE for authorisation).
   * Throws RatingError NO_RULE when no rule matches at the start.
   */
  quote(attrs: ServiceAttributes, start: Date): CallQuote {
    const ms = start.getTime();
    if (!Number.isFinite(ms)) throw new RatingError('BAD_START', 'start is not a valid date');
    const candidates = this.candidates(attrs);
    const clock = new LocalClock(this.ruleSet.calendar);
    const first = ruleAt(candidates, clock, ms);
    if (first === undefined) {
      throw new RatingError('NO_RULE', `no charging rule for ${attrs.service} to ${attrs.destination}`, {
        service: attrs.service, destination: attrs.destination, callerPlan: attrs.callerPlan ?? null, vpnGroup: attrs.vpnGroup ?? null, start: start.toISOString(),
      });
    }
    return new CallQuote(first, ms, new RuleTimeline(candidates, clock), this.quoteOptions);
  }

  /** The rules that could apply to these attributes at some instant, in match order. */
  private candidates(attrs: ServiceAttributes): ChargingRule[] {
    const path = this.path;
    const n = this.ruleSet.index.path(attrs.service, attrs.destination, path);
    const plan = attrs.callerPlan ?? null, group = attrs.vpnGroup ?? null;
    const out: ChargingRule[] = [];
    for (let i = n - 1; i >= 0; i--) {
      for (const r of this.ruleSet.index.rulesAt(path[i]!)) {
        if ((r.callerPlan === null || r.callerPlan === plan) && (r.vpnGroup === null || r.vpnGroup === group)) out.push(r);
      }
    }
    return out;
  }
}

function ruleInForce(r: ChargingRule, clock: LocalClock): boolean {
  const ms = clock.ms;
  if (r.validFromMs !== null && ms < r.validFromMs) return false;
  if (r.validToMs !== null && ms >= r.validToMs) return false;
  if (r.dayTypeId === null && r.windowFromMs === null) return true;
  clock.in(r.zone);
  if (r.dayTypeId !== null && clock.dayType() !== r.dayTypeId) return false;
  if (r.windowFromMs !== null) {
    const t = clock.msOfDay, from = r.windowFromMs, to = r.windowToMs!;
    return from < to ? t >= from && t < to : t >= from || t < to;
  }
  return true;
}

function ruleAt(candidates: readonly ChargingRule[], clock: LocalClock, ms: number): ChargingRule | undefined {
  clock.aim(ms);
  for (const r of candidates) if (ruleInForce(r, clock)) return r;
  return undefined;
}

/**
 * Which rule is in force when, for one call's candidate rules: the rule at an instant, and the
 * next instant at which that may change (a window edge, local midnight, a validity date, or a
 * change of UTC offset).
 */
export class RuleTimeline {
  constructor(private readonly candidates: readonly ChargingRule[], private readonly clock: LocalClock) {}

  ruleAt(ms: number): ChargingRule | undefined {
    return ruleAt(this.candidates, this.clock, ms);
  }

  nextChange(ms: number): number {
    let next = Infinity;
    for (const r of this.candidates) {
      if (r.validFromMs !== null && r.validFromMs > ms && r.validFromMs < next) next = r.validFromMs;
      if (r.validToMs !== null && r.validToMs > ms && r.validToMs < next) next = r.validToMs;
      if (r.dayTypeId === null && r.windowFromMs === null) continue;
      const { offset, until } = r.zone.offsetSpan(ms);
      if (until < next) next = until;
      const local = ms + offset;
      const msOfDay = local - Math.floor(local / DAY_MS) * DAY_MS;
      if (r.dayTypeId !== null) next = Math.min(next, ms + DAY_MS - msOfDay);
      if (r.windowFromMs !== null) {
        for (const edge of [r.windowFromMs, r.windowToMs!]) {
          const delta = edge > msOfDay ? edge - msOfDay : edge + DAY_MS - msOfDay;
          if (ms + delta < next) next = ms + delta;
        }
      }
    }
    return next;
  }
}
