import { DayCalendar } from './calendar';
import { PrefixIndex } from './prefix-index';
import { TimeZone, isValidTimeZone } from './time-zone';
import type { ChargingRule, Tariff } from './types';

/** A validated rule set with its index: immutable once built, swapped whole. */
export class RuleSet {
  readonly index = new PrefixIndex();
  readonly tariffs: ReadonlyMap<number, Tariff>;

  constructor(
    readonly rules: readonly ChargingRule[],
    tariffs: readonly Tariff[],
    readonly calendar: DayCalendar,
    readonly serviceCodes: ReadonlySet<string>,
    readonly dayTypeCodes: ReadonlyMap<number, string>,
    readonly defaultTimeZone: string,
  ) {
    this.tariffs = new Map(tariffs.map((t) => [t.id, t]));
    for (const r of rules) this.index.add(r);
    this.index.seal();
  }

  get ruleCount(): number {
    return this.rules.length;
  }
}

/** One TimeZone object per zone name, so offsets are cached once per rule set. */
export class ZoneCache {
  private readonly zones = new Map<string, TimeZone>();
  private readonly validity = new Map<string, boolean>();

  isValid(name: string): boolean {
    let ok = this.validity.get(name);
    if (ok === undefined) {
      ok = isValidTimeZone(name);
      this.validity.set(name, ok);
    }
    return ok;
  }
  get(name: string): TimeZone {
    let z = this.zones.get(name);
    if (z === undefined) {
      z = new TimeZone(name);
      this.zones.set(name, z);
    }
    return z;
  }
}
