/**
 * Validation of a whole rule set as admins left it in the tables. Every problem is reported with
 * its table and row; only a set without problems is built into a RuleSet.
 */
import { MoneyFormatError, parseMoney, type Micros } from '../common/money';
import { DayCalendar } from './calendar';
import { MAX_PREFIX_DIGITS } from './prefix-index';
import { RuleSet, ZoneCache } from './rule-set';
import { DAY_MS, isValidTimeZone, parseLocalDate, parseTimeOfDay } from './time-zone';
import type { ChargingRule, RawRuleSet, RuleProblem, Tariff, TariffStep } from './types';

export type ValidationResult = { ok: true; ruleSet: RuleSet } | { ok: false; problems: RuleProblem[] };

const WEEKDAYS: Record<string, number> = { mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6, sun: 7 };
const CODE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

export function validateRuleSet(raw: RawRuleSet): ValidationResult {
  const problems: RuleProblem[] = [];
  const problem = (table: string, rowId: number | string, reason: string): void => {
    problems.push({ table, rowId, reason });
  };
  const zones = new ZoneCache();

  if (!isValidTimeZone(raw.defaultTimeZone)) problem('config', 'rating.timeZone', `unknown time zone "${raw.defaultTimeZone}"`);

  // services
  const services = new Map<number, string>();
  const serviceCodes = new Set<string>();
  raw.services.forEach((s, at) => {
    if (!isId(s.id)) { problem('services', position(at), badId(s.id)); return; }
    if (services.has(s.id)) { problem('services', s.id, 'duplicate id'); return; }
    const code = (s.code ?? '').trim();
    if (!CODE.test(code)) problem('services', s.id, `malformed service code "${s.code}"`);
    else if (serviceCodes.has(code)) problem('services', s.id, `duplicate service code "${code}"`);
    services.set(s.id, code);
    serviceCodes.add(code);
  });

  // day types
  const dayTypeCodes = new Map<number, string>();
  const codesSeen = new Set<string>();
  const byWeekday: Array<number | null> = [null, null, null, null, null, null, null, null];
  raw.dayTypes.forEach((d, at) => {
    if (!isId(d.id)) { problem('day_types', position(at), badId(d.id)); return; }
    if (dayTypeCodes.has(d.id)) { problem('day_types', d.id, 'duplicate id'); return; }
    const code = (d.code ?? '').trim();
    if (!CODE.test(code)) problem('day_types', d.id, `malformed day type code "${d.code}"`);
    else if (codesSeen.has(code)) problem('day_types', d.id, `duplicate day type code "${code}"`);
    codesSeen.add(code);
    dayTypeCodes.set(d.id, code);
    for (const token of splitList(d.weekdays)) {
      const wd = WEEKDAYS[token.toLowerCase().slice(0, 3)] ?? (/^[1-7]$/.test(token) ? Number(token) : undefined);
      if (wd === undefined || (token.length > 3 && !/^(mon|tues|wednes|thurs|fri|satur|sun)day$/i.test(token))) {
        problem('day_types', d.id, `unknown weekday "${token}" (use mon,tue,wed,thu,fri,sat,sun or 1-7)`);
        continue;
      }
      const other = byWeekday[wd];
      if (other != null && other !== d.id) problem('day_types', d.id, `weekday "${token}" is already covered by day type ${other}`);
      else byWeekday[wd] = d.id;
    }
  });

  // holidays
  const holidays = new Map<number, number>();
  const holidayRows = new Map<number, number>();
  raw.holidays.forEach((h, at) => {
    if (!isId(h.id)) { problem('holidays', position(at), badId(h.id)); return; }
    const day = parseLocalDate(String(h.date ?? ''));
    if (day === null) { problem('holidays', h.id, `malformed date "${h.date}" (expected YYYY-MM-DD)`); return; }
    if (!dayTypeCodes.has(h.dayTypeId)) { problem('holidays', h.id, unknownRef('day type', 'day_type_id', h.dayTypeId)); return; }
    const prev = holidayRows.get(day);
    if (prev !== undefined) { problem('holidays', h.id, `date ${h.date} is already listed by holiday ${prev}`); return; }
    holidayRows.set(day, h.id);
    holidays.set(day, h.dayTypeId);
  });

  // tariffs and their steps
  const tariffs = new Map<number, Tariff>();
  const tariffCodes = new Set<string>();
  const badZoneTariffs = new Set<number>();
  raw.tariffs.forEach((t, at) => {
    if (!isId(t.id)) { problem('tariffs', position(at), badId(t.id)); return; }
    if (tariffs.has(t.id)) { problem('tariffs', t.id, 'duplicate id'); return; }
    const code = (t.code ?? '').trim();
    if (!CODE.test(code)) problem('tariffs', t.id, `malformed tariff code "${t.code}"`);
    else if (tariffCodes.has(code)) problem('tariffs', t.id, `duplicate tariff code "${code}"`);
    tariffCodes.add(code);
    const currency = (t.currency ?? '').trim();
    if (!/^[A-Z]{3}$/.test(currency)) problem('tariffs', t.id, `malformed currency "${t.currency}" (expected ISO 4217 such as EUR)`);
    const connectFee = money(t.connectFee, 'connect_fee', (r) => problem('tariffs', t.id, r));
    const minimumCharge = money(t.minimumCharge, 'minimum_charge', (r) => problem('tariffs', t.id, r));
    if (!isCount(t.freeSeconds)) problem('tariffs', t.id, `free_seconds must be a whole number >= 0, got ${shown(t.freeSeconds)}`);
    const zone = t.timeZone == null || String(t.timeZone).trim() === '' ? raw.defaultTimeZone : String(t.timeZone).trim();
    if (t.timeZone != null && String(t.timeZone).trim() !== '' && !zones.isValid(zone)) problem('tariffs', t.id, `unknown time zone "${t.timeZone}"`);
    // Its rules cannot be read in any zone: the one problem above (or rating.timeZone's) says why.
    if (!zones.isValid(zone)) badZoneTariffs.add(t.id);
    tariffs.set(t.id, { id: t.id, code, currency, connectFee, minimumCharge, freeSeconds: Number(t.freeSeconds), timeZone: zone, steps: [] });
  });
  const tariffsWithBadSteps = new Set<number>();
  const stepIds = new Set<number>();
  for (const [at, s] of raw.tariffSteps.entries()) {
    if (!isId(s.id)) { problem('tariff_steps', position(at), badId(s.id)); continue; }
    if (stepIds.has(s.id)) { problem('tariff_steps', s.id, 'duplicate id'); continue; }
    stepIds.add(s.id);
    const tariff = tariffs.get(s.tariffId);
    if (tariff === undefined) { problem('tariff_steps', s.id, unknownRef('tariff', 'tariff_id', s.tariffId)); continue; }
    let ok = true;
    if (!isCount(s.fromSecond)) { problem('tariff_steps', s.id, `from_second must be a whole number >= 0, got ${shown(s.fromSecond)}`); ok = false; }
    if (!isCount(s.incrementSeconds) || Number(s.incrementSeconds) < 1) { problem('tariff_steps', s.id, `increment_seconds must be a whole number >= 1, got ${shown(s.incrementSeconds)}`); ok = false; }
    const price = money(s.pricePerIncrement, 'price_per_increment', (r) => { problem('tariff_steps', s.id, r); ok = false; });
    if (!ok) tariffsWithBadSteps.add(tariff.id);
    else tariff.steps.push({ id: s.id, fromSecond: Number(s.fromSecond), incrementSeconds: Number(s.incrementSeconds), pricePerIncrement: price });
  }
  for (const t of tariffs.values()) {
    if (tariffsWithBadSteps.has(t.id)) continue;
    t.steps.sort((a, b) => a.fromSecond - b.fromSecond || a.id - b.id);
    checkSteps(t, t.steps, problem);
  }

  // charging rules
  const rules: ChargingRule[] = [];
  const ruleIds = new Set<number>();
  for (const [at, r] of raw.chargingRules.entries()) {
    if (!isId(r.id)) { problem('charging_rules', position(at), badId(r.id)); continue; }
    if (ruleIds.has(r.id)) { problem('charging_rules', r.id, 'duplicate id'); continue; }
    ruleIds.add(r.id);
    const before = problems.length;
    const bad = (reason: string): void => problem('charging_rules', r.id, reason);
    const service = services.get(r.serviceId);
    if (service === undefined) bad(unknownRef('service', 'service_id', r.serviceId));
    const tariff = tariffs.get(r.tariffId);
    if (tariff === undefined) bad(unknownRef('tariff', 'tariff_id', r.tariffId));
    const prefix = (r.destinationPrefix ?? '').trim();
    if (!/^\d*$/.test(prefix)) bad(`malformed destination prefix "${r.destinationPrefix}" (digits only, no '+')`);
    else if (prefix.length > MAX_PREFIX_DIGITS) bad(`destination prefix longer than ${MAX_PREFIX_DIGITS} digits`);
    let dayTypeCode: string | null = null;
    if (r.dayTypeId != null) {
      dayTypeCode = dayTypeCodes.get(r.dayTypeId) ?? null;
      if (dayTypeCode === null) bad(unknownRef('day type', 'day_type_id', r.dayTypeId));
    }
    const from = blank(r.timeFrom), to = blank(r.timeTo);
    let windowFromMs: number | null = null, windowToMs: number | null = null;
    if ((from === null) !== (to === null)) bad('time_from and time_to must be set together');
    else if (from !== null && to !== null) {
      windowFromMs = parseTimeOfDay(from);
      windowToMs = parseTimeOfDay(to);
      if (windowFromMs === null || windowFromMs === DAY_MS) bad(`malformed time_from "${from}" (expected HH:MM, 00:00-23:59)`);
      if (windowToMs === null) bad(`malformed time_to "${to}" (expected HH:MM, up to 24:00)`);
      // No window is empty: to <= from wraps past midnight, so 08:00-08:00 and 00:00-24:00 are the whole day.
    }
    const validFromMs = instant(r.validFrom, 'valid_from', bad);
    const validToMs = instant(r.validTo, 'valid_to', bad);
    if (validFromMs !== null && validToMs !== null && validFromMs >= validToMs) bad('valid_from must be before valid_to');
    if (!Number.isSafeInteger(Number(r.priority)) || r.priority === null) bad(`priority must be a whole number, got ${shown(r.priority)}`);
    if (problems.length > before || service === undefined || tariff === undefined || badZoneTariffs.has(tariff.id)) continue;
    rules.push({
      id: r.id, service, callerPlan: blank(r.callerPlan), vpnGroup: blank(r.vpnGroup), prefix, dayTypeId: r.dayTypeId ?? null,
      dayTypeCode, windowFromMs, windowToMs, validFromMs, validToMs, priority: Number(r.priority), tariff, zone: zones.get(tariff.timeZone),
    });
  }

  checkAmbiguity(rules, problem);
  // Built from the rules that passed, so the currency check runs beside every other problem.
  const ruleSet = new RuleSet(rules, [...tariffs.values()], new DayCalendar(byWeekday, holidays), serviceCodes, dayTypeCodes, raw.defaultTimeZone);
  checkCurrencies(ruleSet, problem);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, ruleSet };
}

function checkSteps(t: Tariff, steps: TariffStep[], problem: (table: string, rowId: number, reason: string) => void): void {
  if (steps.length === 0) { problem('tariffs', t.id, 'tariff has no steps'); return; }
  if (steps[0]!.fromSecond !== 0) problem('tariff_steps', steps[0]!.id, `the first step of tariff ${t.id} must start at second 0, not ${steps[0]!.fromSecond}`);
  for (let i = 1; i < steps.length; i++) {
    const prev = steps[i - 1]!, cur = steps[i]!;
    if (cur.fromSecond === prev.fromSecond) {
      problem('tariff_steps', cur.id, `overlaps step ${prev.id}: both start at second ${cur.fromSecond}`);
    } else if ((cur.fromSecond - prev.fromSecond) % prev.incrementSeconds !== 0) {
      problem('tariff_steps', cur.id, `overlaps step ${prev.id}: its ${prev.incrementSeconds} s increments from second ${prev.fromSecond} run past second ${cur.fromSecond}`);
    }
  }
}

/** Two rules with the same service, prefix and priority that can both match one call. */
function checkAmbiguity(rules: ChargingRule[], problem: (table: string, rowId: number, reason: string) => void): void {
  const groups = new Map<string, ChargingRule[]>();
  for (const r of rules) {
    const key = `${r.service}\u0000${r.prefix}\u0000${r.priority}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [r]); else g.push(r);
  }
  for (const g of groups.values()) {
    for (let i = 1; i < g.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = g[j]!, b = g[i]!;
        if (canMatchSameCall(a, b)) {
          problem('charging_rules', b.id, `ambiguous with rule ${a.id}: same service ${b.service}, prefix "${b.prefix}" and priority ${b.priority}, and both can match one call${a.zone.name !== b.zone.name ? ` (their tariffs' time zones ${a.zone.name} and ${b.zone.name} differ, so day types and windows cannot tell them apart)` : ''}`);
          break;
        }
      }
    }
  }
}

function canMatchSameCall(a: ChargingRule, b: ChargingRule): boolean {
  if (a.callerPlan !== null && b.callerPlan !== null && a.callerPlan !== b.callerPlan) return false;
  if (a.vpnGroup !== null && b.vpnGroup !== null && a.vpnGroup !== b.vpnGroup) return false;
  if ((a.validFromMs ?? -Infinity) >= (b.validToMs ?? Infinity) || (b.validFromMs ?? -Infinity) >= (a.validToMs ?? Infinity)) return false;
  // Day types and windows read in different zones cannot be compared: assume they meet.
  if (a.zone.name !== b.zone.name) return true;
  if (a.dayTypeId !== null && b.dayTypeId !== null && a.dayTypeId !== b.dayTypeId) return false;
  if (a.windowFromMs !== null && b.windowFromMs !== null) {
    const pa = windowParts(a.windowFromMs, a.windowToMs!), pb = windowParts(b.windowFromMs, b.windowToMs!);
    return pa.some(([f1, t1]) => pb.some(([f2, t2]) => f1 < t2 && f2 < t1));
  }
  return true;
}

function windowParts(from: number, to: number): Array<[number, number]> {
  return from < to ? [[from, to]] : [[from, DAY_MS], [0, to]];
}

/**
 * A call keeps the currency of the rule that matched at its start, while later pieces may be
 * priced by any rule on the same destination path with a compatible plan and group: all of those
 * must share the currency.
 */
function checkCurrencies(ruleSet: RuleSet, problem: (table: string, rowId: number, reason: string) => void): void {
  interface Seen { plan: string | null; group: string | null; currency: string; ruleId: number }
  const compatible = (a: Seen, r: ChargingRule): boolean =>
    (a.plan === null || r.callerPlan === null || a.plan === r.callerPlan) && (a.group === null || r.vpnGroup === null || a.group === r.vpnGroup);
  const reported = new Set<number>();
  const enter = (rules: ChargingRule[] | null, inherited: Seen[]): Seen[] => {
    if (rules === null) return inherited;
    const local: Seen[] = [];
    for (const r of rules) {
      const clash = inherited.find((s) => s.currency !== r.tariff.currency && compatible(s, r)) ?? local.find((s) => s.currency !== r.tariff.currency && compatible(s, r));
      if (clash && !reported.has(r.id)) {
        reported.add(r.id);
        problem('charging_rules', r.id, `mixed currencies: tariff ${r.tariff.id} is in ${r.tariff.currency} but rule ${clash.ruleId} for the same calls uses ${clash.currency}`);
      }
      if (!local.some((s) => s.plan === r.callerPlan && s.group === r.vpnGroup && s.currency === r.tariff.currency)) {
        local.push({ plan: r.callerPlan, group: r.vpnGroup, currency: r.tariff.currency, ruleId: r.id });
      }
    }
    const fresh = local.filter((s) => !inherited.some((i) => i.plan === s.plan && i.group === s.group && i.currency === s.currency));
    return fresh.length === 0 ? inherited : inherited.concat(fresh);
  };
  for (const service of ruleSet.index.serviceCodes()) ruleSet.index.walk(service, [] as Seen[], enter);
}

function money(value: unknown, column: string, bad: (reason: string) => void): Micros {
  if (value === null || value === undefined || String(value).trim() === '') { bad(`${column} is missing`); return 0n; }
  try {
    const m = parseMoney(String(value));
    if (m < 0n) { bad(`${column} is negative (${String(value)})`); return 0n; }
    return m;
  } catch (err) {
    bad(`${column}: ${err instanceof MoneyFormatError ? err.message : String(err)}`);
    return 0n;
  }
}

function instant(value: Date | string | null | undefined, column: string, bad: (reason: string) => void): number | null {
  if (value === null || value === undefined || (typeof value === 'string' && value.trim() === '')) return null;
  const ms = parseInstant(value);
  if (ms === null) { bad(`malformed ${column} "${String(value)}" (expected an instant such as 2026-01-01 00:00:00, UTC)`); return null; }
  return ms;
}

/**
 * An instant from a Date or text as databases and admins write it: '2026-01-01', '2026-01-01 08:00',
 * '2026-01-01T08:00:00Z', '2026-01-01 08:00:00.000 +00:00'. Without a zone it is UTC.
 */
export function parseInstant(value: Date | string): number | null {
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.getTime() : null;
  let text = value.trim().replace(/\s+(?=(Z|[+-]\d{2}:?\d{2})$)/, '').replace(' ', 'T');
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00';
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(text)) text += 'Z';
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m || parseLocalDate(`${m[1]}-${m[2]}-${m[3]}`) === null || Number(m[4]) > 23 || Number(m[5]) > 59) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}

/** A row whose id cannot name it: its place in the table (1 = the first row). */
function position(index: number): string {
  return `#${index + 1}`;
}

function badId(id: unknown): string {
  return typeof id === 'number' && Number.isNaN(id) ? 'id is missing or not a number' : `id must be a positive integer, got ${String(id)}`;
}

function shown(v: unknown): string {
  return typeof v === 'number' && Number.isNaN(v) ? 'nothing (empty or not a number)' : String(v);
}

function unknownRef(what: string, column: string, id: unknown): string {
  return typeof id === 'number' && Number.isNaN(id) ? `${column} is missing or not a number` : `unknown ${what} ${String(id)}`;
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function blank(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const t = String(v).trim();
  return t === '' ? null : t;
}

function splitList(v: string | null | undefined): string[] {
  return (v ?? '').split(/[,\s]+/).map((s) => s.trim()).filter((s) => s !== '');
}
