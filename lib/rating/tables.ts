/**
 * The rating tables as rows of text, the one shape shared by the database repository and the CSV
 * files: column names are the database's, every value a string or null. Conversion to a
 * RawRuleSet leaves judging the values to validateRuleSet.
 */
import type { RawRuleSet } from './types';

export const RATING_TABLES = {
  services: ['id', 'code', 'name'],
  day_types: ['id', 'code', 'name', 'weekdays'],
  holidays: ['id', 'date', 'day_type_id', 'name'],
  tariffs: ['id', 'code', 'name', 'currency', 'connect_fee', 'minimum_charge', 'free_seconds', 'time_zone'],
  tariff_steps: ['id', 'tariff_id', 'from_second', 'increment_seconds', 'price_per_increment'],
  charging_rules: ['id', 'service_id', 'caller_plan', 'vpn_group', 'destination_prefix', 'day_type_id', 'time_from', 'time_to', 'valid_from', 'valid_to', 'priority', 'tariff_id', 'description'],
} as const;

export type RatingTableName = keyof typeof RATING_TABLES;
/** Tables in an order where every reference points backwards (insert in it, delete in reverse). */
export const RATING_TABLE_NAMES = Object.keys(RATING_TABLES) as RatingTableName[];

export type TableRow = Record<string, string | null>;
export type RatingTableRows = Record<RatingTableName, TableRow[]>;

export function emptyTables(): RatingTableRows {
  return { services: [], day_types: [], holidays: [], tariffs: [], tariff_steps: [], charging_rules: [] };
}

/** A required whole number; blank becomes NaN so that validation names the row. */
function int(v: string | null | undefined): number {
  return v === null || v === undefined || v.trim() === '' ? Number.NaN : Number(v.trim());
}

function optInt(v: string | null | undefined): number | null {
  return v === null || v === undefined || v.trim() === '' ? null : Number(v.trim());
}

export function rowsToRawRuleSet(t: RatingTableRows, defaultTimeZone: string): RawRuleSet {
  return {
    services: t.services.map((r) => ({ id: int(r.id), code: r.code ?? '', name: r.name ?? null })),
    dayTypes: t.day_types.map((r) => ({ id: int(r.id), code: r.code ?? '', name: r.name ?? null, weekdays: r.weekdays ?? null })),
    holidays: t.holidays.map((r) => ({ id: int(r.id), date: r.date ?? '', dayTypeId: int(r.day_type_id), name: r.name ?? null })),
    tariffs: t.tariffs.map((r) => ({
      id: int(r.id), code: r.code ?? '', name: r.name ?? null, currency: r.currency ?? '', connectFee: r.connect_fee ?? '',
      minimumCharge: r.minimum_charge ?? '', freeSeconds: int(r.free_seconds), timeZone: r.time_zone ?? null,
    })),
    tariffSteps: t.tariff_steps.map((r) => ({
      id: int(r.id), tariffId: int(r.tariff_id), fromSecond: int(r.from_second), incrementSeconds: int(r.increment_seconds), pricePerIncrement: r.price_per_increment ?? '',
    })),
    chargingRules: t.charging_rules.map((r) => ({
      id: int(r.id), serviceId: int(r.service_id), callerPlan: r.caller_plan ?? null, vpnGroup: r.vpn_group ?? null,
      destinationPrefix: r.destination_prefix ?? '', dayTypeId: optInt(r.day_type_id), timeFrom: r.time_from ?? null, timeTo: r.time_to ?? null,
      validFrom: r.valid_from ?? null, validTo: r.valid_to ?? null, priority: int(r.priority), tariffId: int(r.tariff_id), description: r.description ?? null,
    })),
    defaultTimeZone,
  };
}
