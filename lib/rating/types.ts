/**
 * Types of the rule-table rating engine. "Raw" types are rows as they come from the database or a
 * CSV file (money as decimal strings, references as ids); the validated types are what the engine
 * prices with (money as bigint micro-units, times as epoch milliseconds).
 */
import type { Micros } from '../common/money';
import type { TimeZone } from './time-zone';

/** What a call carries into rating. */
export interface ServiceAttributes {
  /** 'voice.onnet' | 'voice.offnet' | 'voice.public' | … (a code of the services table) */
  service: string;
  /** The caller's plan code. */
  callerPlan?: string | null;
  /** The caller's VPN group code. */
  vpnGroup?: string | null;
  /** E.164 digits, no '+', e.g. '4930123456'. */
  destination: string;
}

/** One thing wrong in a rule set: the table, the row and why. */
export interface RuleProblem {
  table: string;
  rowId: number | string;
  reason: string;
}

// ---------------------------------------------------------------------------------------------
// Raw rows (one interface per table; field names are the columns in camelCase)

export interface RawService {
  id: number;
  code: string;
  name?: string | null;
}

export interface RawDayType {
  id: number;
  code: string;
  name?: string | null;
  /** Comma-separated weekdays this day type covers: 'mon,tue,wed,thu,fri' (or ISO numbers 1-7). */
  weekdays?: string | null;
}

export interface RawHoliday {
  id: number;
  /** Local calendar date 'YYYY-MM-DD' in the tariff's time zone. */
  date: string;
  dayTypeId: number;
  name?: string | null;
}

export interface RawTariff {
  id: number;
  code: string;
  name?: string | null;
  /** ISO 4217, e.g. 'EUR'. */
  currency: string;
  connectFee: string;
  minimumCharge: string;
  freeSeconds: number;
  /** IANA zone the rules pointing at this tariff are read in; null: the configured default. */
  timeZone?: string | null;
}

export interface RawTariffStep {
  id: number;
  tariffId: number;
  fromSecond: number;
  incrementSeconds: number;
  pricePerIncrement: string;
}

export interface RawChargingRule {
  id: number;
  serviceId: number;
  callerPlan?: string | null;
  vpnGroup?: string | null;
  /** Digits; '' or null matches every destination. */
  destinationPrefix?: string | null;
  dayTypeId?: number | null;
  /** Local time of day 'HH:MM' or 'HH:MM:SS'; both or neither. timeTo may be '24:00'. */
  timeFrom?: string | null;
  timeTo?: string | null;
  /** Instants (UTC); the rule is in force in [validFrom, validTo). */
  validFrom?: Date | string | null;
  validTo?: Date | string | null;
  /** Higher wins among rules with the same prefix length. */
  priority: number;
  tariffId: number;
  description?: string | null;
}

export interface RawRuleSet {
  services: RawService[];
  dayTypes: RawDayType[];
  holidays: RawHoliday[];
  tariffs: RawTariff[];
  tariffSteps: RawTariffStep[];
  chargingRules: RawChargingRule[];
  /** Config `rating.timeZone`: the zone of tariffs that do not name one. */
  defaultTimeZone: string;
}

// ---------------------------------------------------------------------------------------------
// Validated rule set

export interface TariffStep {
  id: number;
  fromSecond: number;
  incrementSeconds: number;
  pricePerIncrement: Micros;
}

export interface Tariff {
  id: number;
  code: string;
  currency: string;
  connectFee: Micros;
  minimumCharge: Micros;
  freeSeconds: number;
  timeZone: string;
  /** Sorted by fromSecond; the first starts at 0. */
  steps: TariffStep[];
}

export interface ChargingRule {
  id: number;
  service: string;
  callerPlan: string | null;
  vpnGroup: string | null;
  prefix: string;
  dayTypeId: number | null;
  dayTypeCode: string | null;
  /** Milliseconds of the local day: [from, to), wrapping past midnight when to <= from. */
  windowFromMs: number | null;
  windowToMs: number | null;
  validFromMs: number | null;
  validToMs: number | null;
  priority: number;
  tariff: Tariff;
  /** The zone the day type and time window are read in (the tariff's, else the default). */
  zone: TimeZone;
}
