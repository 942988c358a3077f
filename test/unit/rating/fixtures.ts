import type { RawChargingRule, RawRuleSet, RawTariff, RawTariffStep } from '../../../lib/rating';
import { RatingEngine, validateRuleSet } from '../../../lib/rating';
import { prng } from '../../support/random';
export { prng };

/** Service ids of the fixture: 1 voice.onnet, 2 voice.offnet, 3 voice.public. */
export const SERVICE = { onnet: 1, offnet: 2, public: 3 } as const;
/** Day type ids: 1 weekday (mon-fri), 2 weekend (sat, sun), 3 holiday (calendar only). */
export const DAY = { weekday: 1, weekend: 2, holiday: 3 } as const;

export interface TariffSpec {
  id: number;
  currency?: string;
  connectFee?: string;
  minimumCharge?: string;
  freeSeconds?: number;
  timeZone?: string | null;
  /** [fromSecond, incrementSeconds, pricePerIncrement] */
  steps: Array<[number, number, string]>;
}

export function tariffRows(specs: TariffSpec[]): { tariffs: RawTariff[]; tariffSteps: RawTariffStep[] } {
  const tariffs: RawTariff[] = [];
  const tariffSteps: RawTariffStep[] = [];
  let stepId = 1;
  for (const s of specs) {
    tariffs.push({
      id: s.id, code: `T${s.id}`, currency: s.currency ?? 'EUR', connectFee: s.connectFee ?? '0', minimumCharge: s.minimumCharge ?? '0',
      freeSeconds: s.freeSeconds ?? 0, timeZone: s.timeZone ?? null,
    });
    for (const [fromSecond, incrementSeconds, pricePerIncrement] of s.steps) {
      tariffSteps.push({ id: stepId++, tariffId: s.id, fromSecond, incrementSeconds, pricePerIncrement });
    }
  }
  return { tariffs, tariffSteps };
}

export function rule(id: number, tariffId: number, extra: Partial<RawChargingRule> = {}): RawChargingRule {
  return { id, serviceId: SERVICE.public, destinationPrefix: '', priority: 0, tariffId, ...extra };
}

export function rawRuleSet(tariffs: TariffSpec[], chargingRules: RawChargingRule[], extra: Partial<RawRuleSet> = {}): RawRuleSet {
  return {
    services: [
      { id: 1, code: 'voice.onnet' }, { id: 2, code: 'voice.offnet' }, { id: 3, code: 'voice.public' },
    ],
    dayTypes: [
      { id: 1, code: 'weekday', weekdays: 'mon,tue,wed,thu,fri' },
      { id: 2, code: 'weekend', weekdays: 'sat,sun' },
      { id: 3, code: 'holiday', weekdays: '' },
    ],
    holidays: [{ id: 1, date: '2026-12-25', dayTypeId: DAY.holiday, name: 'Christmas' }],
    ...tariffRows(tariffs),
    chargingRules,
    defaultTimeZone: 'UTC',
    ...extra,
  };
}

export function engineFor(raw: RawRuleSet, maxCallSeconds?: number): RatingEngine {
  const v = validateRuleSet(raw);
  if (!v.ok) throw new Error(`fixture invalid: ${JSON.stringify(v.problems)}`);
  return new RatingEngine(v.ruleSet, maxCallSeconds === undefined ? {} : { maxCallSeconds });
}

