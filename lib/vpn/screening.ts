import { LocalClock } from '../rating/calendar';
import type { RuleSet } from '../rating/rule-set';
import { TimeZone } from '../rating/time-zone';
import type { CallClass, ScreeningClock, ScreeningRule } from './types';

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** "HH:MM" → minutes since midnight; "24:00" is the end of the day; undefined when malformed. */
export function parseMinuteOfDay(text: string): number | undefined {
  if (text === '24:00') return 1440;
  const m = TIME_OF_DAY.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Whether the rule covers this local time: its day type (or any) and its window (a window past midnight wraps). */
export function screeningRuleMatches(rule: ScreeningRule, local: { dayType: string | null; minuteOfDay: number }): boolean {
  if (rule.dayType !== null && rule.dayType !== local.dayType) return false;
  if (rule.timeFrom === null || rule.timeTo === null) return true;
  const from = parseMinuteOfDay(rule.timeFrom)!, to = parseMinuteOfDay(rule.timeTo)!;
  const t = local.minuteOfDay;
  return from < to ? t >= from && t < to : t >= from || t < to;
}

/** Member rules first, then the group's, each by priority then id: the order screening tries them. */
export function screeningOrder(a: ScreeningRule, b: ScreeningRule): number {
  return Number(a.memberId === null) - Number(b.memberId === null) || a.priority - b.priority || a.id - b.id;
}

/**
 * The call class in force: the first matching rule's (rules in screeningOrder), else the
 * member's own. Without a clock only rules for any day and all day can match.
 */
export function screenedCallClass(base: CallClass, rules: readonly ScreeningRule[], at: Date, clock: ScreeningClock | undefined): CallClass {
  if (rules.length === 0) return base;
  const local = clock ? clock.localTime(at) : undefined;
  for (const rule of rules) {
    if (!local) {
      if (rule.dayType === null && rule.timeFrom === null) return rule.callClass;
      continue;
    }
    if (screeningRuleMatches(rule, local)) return rule.callClass;
  }
  return base;
}

/**
 * The rating calendar as a screening clock: the rule set's day types and holidays, in its default
 * time zone, so "office hours" mean the same in screening as in tariffs.
 */
export function ratingScreeningClock(ruleSet: RuleSet): ScreeningClock {
  let clock = clocks.get(ruleSet);
  if (!clock) {
    clock = makeClock(ruleSet);
    clocks.set(ruleSet, clock);
  }
  return clock;
}

/** One clock per rule set: a time zone's formatter is costly to build, and rule sets are swapped whole. */
const clocks = new WeakMap<RuleSet, ScreeningClock>();

function makeClock(ruleSet: RuleSet): ScreeningClock {
  const zone = new TimeZone(ruleSet.defaultTimeZone);
  return {
    localTime(at: Date) {
      const clock = new LocalClock(ruleSet.calendar);
      clock.aim(at.getTime());
      clock.in(zone);
      const id = clock.dayType();
      return { dayType: id === null ? null : ruleSet.dayTypeCodes.get(id) ?? null, minuteOfDay: Math.floor(clock.msOfDay / 60_000) };
    },
  };
}

const zones = new WeakMap<RuleSet, TimeZone>();

/** The rating time zone's UTC offset at an instant (for the local day and month of budget caps). */
export function ratingZoneOffset(ruleSet: RuleSet, at: Date): number {
  let zone = zones.get(ruleSet);
  if (!zone) {
    zone = new TimeZone(ruleSet.defaultTimeZone);
    zones.set(ruleSet, zone);
  }
  return zone.offsetAt(at.getTime());
}
