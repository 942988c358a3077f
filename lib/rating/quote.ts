/**
 * A tariff bound to one call and one start instant. The one pricing walk below is used by the
 * quote, the reservation and the settlement, so they agree to the micro-unit.
 *
 * Pricing, for b billable seconds with the tariff T of the rule in force at the start:
 *  - b <= T.freeSeconds costs nothing (no connect fee, no minimum);
 *  - otherwise the charged seconds b − freeSeconds are covered by whole increments, each priced by
 *    the step (by charged second) of the tariff of the rule in force at the increment's start
 *    (a call crossing a time band or day type is priced piece by piece);
 *  - plus T.connectFee once; the total is at least T.minimumCharge.
 */
import { RatingError } from './errors';
import type { RuleTimeline } from './engine';
import type { ChargingRule, TariffStep } from './types';

export interface QuoteOptions {
  maxCallSeconds: number;
}

/** Consecutive increments priced alike: same rule, same step. */
export interface PricePiece {
  ruleId: number;
  tariffId: number;
  stepId: number;
  /** Wall-clock instant the piece starts. */
  startsAt: Date;
  /** Call seconds (from the start) the piece covers: [fromSecond, toSecond); the last may run past the call. */
  fromSecond: number;
  toSecond: number;
  increments: number;
  incrementSeconds: number;
  pricePerIncrement: bigint;
  amount: bigint;
}

export interface PriceBreakdown {
  ruleId: number;
  tariffId: number;
  currency: string;
  seconds: number;
  freeSeconds: number;
  /** Seconds paid for, after rounding up to whole increments (free seconds not included). */
  chargedSeconds: number;
  connectFee: bigint;
  pieces: PricePiece[];
  /** Connect fee plus pieces, before the minimum charge. */
  subtotal: bigint;
  minimumCharge: bigint;
  minimumApplied: boolean;
  total: bigint;
}

interface Run {
  rule: ChargingRule;
  step: TariffStep;
  /** Charged second the first increment starts at. */
  chargedFrom: number;
  increments: number;
  wallStart: number;
}

const MAX_RUNS = 1_000_000;

export class CallQuote {
  readonly ruleId: number;
  readonly tariffId: number;
  readonly currency: string;
  readonly freeSeconds: number;
  readonly connectFee: bigint;
  readonly minimumCharge: bigint;
  /** Seconds the first billing increment covers, free seconds included. */
  readonly firstStepSeconds: number;

  constructor(
    readonly rule: ChargingRule,
    readonly startMs: number,
    private readonly timeline: RuleTimeline,
    private readonly options: QuoteOptions,
  ) {
    const t = rule.tariff;
    this.ruleId = rule.id;
    this.tariffId = t.id;
    this.currency = t.currency;
    this.freeSeconds = t.freeSeconds;
    this.connectFee = t.connectFee;
    this.minimumCharge = t.minimumCharge;
    let first = 1;
    this.forEachRun(1, (run) => { first = run.step.incrementSeconds; return false; });
    this.firstStepSeconds = this.freeSeconds + first;
  }

  get startsAt(): Date {
    return new Date(this.startMs);
  }

  /** Exact price in micro-units of that many billable seconds. */
  price(seconds: number): bigint {
    checkSeconds(seconds);
    if (seconds <= this.freeSeconds) return 0n;
    let total = this.connectFee;
    this.forEachRun(seconds - this.freeSeconds, (run) => {
      total += BigInt(run.increments) * run.step.pricePerIncrement;
      return true;
    });
    return total > this.minimumCharge ? total : this.minimumCharge;
  }

  /** What extending a call from `fromSeconds` to `toSeconds` billable seconds costs. */
  extensionPrice(fromSeconds: number, toSeconds: number): bigint {
    checkSeconds(fromSeconds);
    checkSeconds(toSeconds);
    if (toSeconds < fromSeconds) throw new RatingError('BAD_SECONDS', `cannot extend from ${fromSeconds} s back to ${toSeconds} s`);
    return this.price(toSeconds) - this.price(fromSeconds);
  }

  priceBreakdown(seconds: number): PriceBreakdown {
    checkSeconds(seconds);
    const pieces: PricePiece[] = [];
    let subtotal = 0n;
    let charged = 0;
    if (seconds > this.freeSeconds) {
      subtotal = this.connectFee;
      this.forEachRun(seconds - this.freeSeconds, (run) => {
        const inc = run.step.incrementSeconds;
        const amount = BigInt(run.increments) * run.step.pricePerIncrement;
        subtotal += amount;
        const fromSecond = this.freeSeconds + run.chargedFrom;
        const toSecond = fromSecond + run.increments * inc;
        charged = toSecond - this.freeSeconds;
        const last = pieces[pieces.length - 1];
        if (last !== undefined && last.ruleId === run.rule.id && last.stepId === run.step.id && last.toSecond === fromSecond) {
          last.toSecond = toSecond;
          last.increments += run.increments;
          last.amount += amount;
        } else {
          pieces.push({
            ruleId: run.rule.id, tariffId: run.rule.tariff.id, stepId: run.step.id, startsAt: new Date(run.wallStart),
            fromSecond, toSecond, increments: run.increments, incrementSeconds: inc, pricePerIncrement: run.step.pricePerIncrement, amount,
          });
        }
        return true;
      });
    }
    const minimumApplied = seconds > this.freeSeconds && subtotal < this.minimumCharge;
    return {
      ruleId: this.ruleId, tariffId: this.tariffId, currency: this.currency, seconds, freeSeconds: this.freeSeconds,
      chargedSeconds: charged, connectFee: seconds > this.freeSeconds ? this.connectFee : 0n, pieces, subtotal,
      minimumCharge: this.minimumCharge, minimumApplied, total: minimumApplied ? this.minimumCharge : subtotal,
    };
  }

  /**
   * The most billable seconds whose price is at most `money` (capped at the engine's
   * maxCallSeconds). One increment more would cost more than `money`.
   */
  maxSeconds(money: bigint): number {
    const cap = this.options.maxCallSeconds;
    if (money < 0n) return 0;
    const free = this.freeSeconds;
    if (free >= cap) return cap;
    if (money < this.minimumCharge || money < this.connectFee) return free;
    let spent = this.connectFee;
    let best = 0; // charged seconds bought so far
    this.forEachRun(cap - free, (run) => {
      const p = run.step.pricePerIncrement;
      let n = run.increments;
      if (p > 0n) {
        const affordable = (money - spent) / p;
        if (affordable < BigInt(n)) n = Number(affordable);
      }
      spent += BigInt(n) * p;
      best = run.chargedFrom + n * run.step.incrementSeconds;
      return n === run.increments;
    });
    return Math.min(free + best, cap);
  }

  /** Walks the charged seconds [0, chargedLimit) in runs of equally priced increments. */
  private forEachRun(chargedLimit: number, visit: (run: Run) => boolean): void {
    const startCharged = this.startMs + this.freeSeconds * 1000;
    let rule = this.rule;
    let segmentEnd = -Infinity;
    let c = 0;
    for (let runs = 0; c < chargedLimit; runs++) {
      if (runs >= MAX_RUNS) throw new RatingError('BAD_SECONDS', `pricing ${chargedLimit} s needs more than ${MAX_RUNS} pieces`);
      const wall = startCharged + c * 1000;
      if (wall >= segmentEnd) {
        // A gap in the rules mid-call keeps the rule of the previous piece.
        rule = this.timeline.ruleAt(wall) ?? rule;
        segmentEnd = this.timeline.nextChange(wall);
      }
      const steps = rule.tariff.steps;
      let i = 0;
      while (i + 1 < steps.length && steps[i + 1]!.fromSecond <= c) i++;
      const step = steps[i]!;
      const inc = step.incrementSeconds;
      let k = Math.ceil((chargedLimit - c) / inc);
      if (i + 1 < steps.length) k = Math.min(k, Math.ceil((steps[i + 1]!.fromSecond - c) / inc));
      if (segmentEnd !== Infinity) k = Math.min(k, Math.ceil((segmentEnd - wall) / (inc * 1000)));
      if (!visit({ rule, step, chargedFrom: c, increments: k, wallStart: wall })) return;
      c += k * inc;
    }
  }
}

function checkSeconds(seconds: number): void {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RatingError('BAD_SECONDS', `billable seconds must be a whole number >= 0, got ${seconds}`);
}
