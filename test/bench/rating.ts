/**
 * Rating benchmark: builds a rule set of 100,000 charging rules in memory, then measures load
 * (validation + index), the memory the loaded set holds, rule look-ups per second, and quotes
 * priced per second. Prints figures; asserts nothing.
 *
 *   npm run bench:rating                 # 100,000 rules
 *   node dist/test/bench/rating.js 20000 # another size
 *   node dist/test/support/harness.js --bench dist/test/bench/rating.js
 *                                        # also: write, load and poll the rules in MariaDB
 */
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { openDatabaseUrl } from '../../lib/db/database';
import { RatingRepository } from '../../lib/db/rating-repository';
import type { RatingTableRows } from '../../lib/rating/tables';
import { TEST_MYSQL_ENV, testDatabaseUrl } from '../support/mariadb';
import { RatingEngine, validateRuleSet, type RawChargingRule, type RawRuleSet, type RawTariff, type RawTariffStep, type ServiceAttributes } from '../../lib/rating';
import { prng } from '../support/random';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;


const RULES = Number(process.argv[2] ?? 100_000);
const rand = prng(42);
const SERVICES = ['voice.onnet', 'voice.offnet', 'voice.public'];
const PLANS = ['basic', 'gold', 'business'];

function buildRuleSet(): { raw: RawRuleSet; prefixes: string[] } {
  const tariffs: RawTariff[] = [];
  const tariffSteps: RawTariffStep[] = [];
  for (let id = 1; id <= 1000; id++) {
    tariffs.push({ id, code: `T${id}`, currency: 'EUR', connectFee: id % 3 === 0 ? '0.050000' : '0', minimumCharge: '0', freeSeconds: id % 5 === 0 ? 3 : 0, timeZone: id % 2 ? 'Europe/Berlin' : null });
    tariffSteps.push({ id: id * 2 - 1, tariffId: id, fromSecond: 0, incrementSeconds: 60, pricePerIncrement: `0.${String(100 + (id % 900)).padStart(6, '0')}` });
    tariffSteps.push({ id: id * 2, tariffId: id, fromSecond: 60, incrementSeconds: 1, pricePerIncrement: `0.${String(1000 + (id % 9000)).padStart(6, '0')}` });
  }
  const rules: RawChargingRule[] = [];
  const seen = new Set<string>();
  const prefixes: string[] = [];
  let id = 0;
  const tariff = (): number => 1 + Math.floor(rand() * 1000);
  for (let s = 0; s < SERVICES.length; s++) rules.push({ id: ++id, serviceId: s + 1, destinationPrefix: '', priority: -100, tariffId: tariff() });
  while (rules.length < RULES) {
    const serviceId = 1 + Math.floor(rand() * SERVICES.length);
    const len = 2 + Math.floor(rand() * 7);
    let prefix = String(1 + Math.floor(rand() * 9));
    while (prefix.length < len) prefix += String(Math.floor(rand() * 10));
    const key = `${serviceId}:${prefix}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prefixes.push(prefix);
    const kind = rand();
    if (kind < 0.6) {
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 0, tariffId: tariff() });
    } else if (kind < 0.85) {
      // peak and off-peak on weekdays, a weekend rate: tariffs of one time zone (same parity)
      const t = tariff(), also = (k: number): number => ((t - 1 + 2 * k) % 1000) + 1;
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 0, dayTypeId: 1, timeFrom: '08:00', timeTo: '18:00', tariffId: t });
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 0, dayTypeId: 1, timeFrom: '18:00', timeTo: '08:00', tariffId: also(1) });
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 0, dayTypeId: 2, tariffId: also(2) });
    } else {
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 0, tariffId: tariff() });
      rules.push({ id: ++id, serviceId, destinationPrefix: prefix, priority: 10, callerPlan: PLANS[Math.floor(rand() * PLANS.length)]!, validFrom: '2026-01-01', tariffId: tariff() });
    }
  }
  return {
    raw: {
      services: SERVICES.map((code, i) => ({ id: i + 1, code })),
      dayTypes: [{ id: 1, code: 'weekday', weekdays: 'mon,tue,wed,thu,fri' }, { id: 2, code: 'weekend', weekdays: 'sat,sun' }, { id: 3, code: 'holiday', weekdays: '' }],
      holidays: [{ id: 1, date: '2026-12-25', dayTypeId: 3 }, { id: 2, date: '2026-12-26', dayTypeId: 3 }],
      tariffs, tariffSteps, chargingRules: rules.slice(0, Math.max(RULES, SERVICES.length)), defaultTimeZone: 'UTC',
    },
    prefixes,
  };
}

/** Wall-clock rate, and the rate per CPU second (steadier when other processes share the cores). */
function rate(label: string, n: number, ms: number, cpuMs: number): void {
  const per = (t: number): string => Math.round((n / t) * 1000).toLocaleString('en-US').padStart(12);
  console.log(`${label.padEnd(34)} ${per(ms)} /s  ${per(cpuMs)} /cpu-s  (${n.toLocaleString('en-US')} in ${ms.toFixed(0)} ms)`);
}

function text(v: unknown): string | null {
  return v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : String(v);
}

function toRows(raw: RawRuleSet): RatingTableRows {
  const map = <T extends object>(xs: T[], cols: Record<string, keyof T>): Array<Record<string, string | null>> =>
    xs.map((x) => Object.fromEntries(Object.entries(cols).map(([col, key]) => [col, text(x[key])])));
  return {
    services: map(raw.services, { id: 'id', code: 'code', name: 'name' }),
    day_types: map(raw.dayTypes, { id: 'id', code: 'code', name: 'name', weekdays: 'weekdays' }),
    holidays: map(raw.holidays, { id: 'id', date: 'date', day_type_id: 'dayTypeId', name: 'name' }),
    tariffs: map(raw.tariffs, { id: 'id', code: 'code', name: 'name', currency: 'currency', connect_fee: 'connectFee', minimum_charge: 'minimumCharge', free_seconds: 'freeSeconds', time_zone: 'timeZone' }),
    tariff_steps: map(raw.tariffSteps, { id: 'id', tariff_id: 'tariffId', from_second: 'fromSecond', increment_seconds: 'incrementSeconds', price_per_increment: 'pricePerIncrement' }),
    charging_rules: map(raw.chargingRules, {
      id: 'id', service_id: 'serviceId', caller_plan: 'callerPlan', vpn_group: 'vpnGroup', destination_prefix: 'destinationPrefix', day_type_id: 'dayTypeId',
      time_from: 'timeFrom', time_to: 'timeTo', valid_from: 'validFrom', valid_to: 'validTo', priority: 'priority', tariff_id: 'tariffId', description: 'description',
    }),
  };
}

/** With a MariaDB from the harness: how long writing, loading and polling the whole set take. */
async function databaseFigures(raw: RawRuleSet): Promise<void> {
  if (!process.env[TEST_MYSQL_ENV]) {
    console.log(`MariaDB figures: skipped (run through: node dist/test/support/harness.js --bench dist/test/bench/rating.js)`);
    return;
  }
  const db = await openDatabaseUrl(await testDatabaseUrl('rating_bench'));
  try {
    await db.migrate();
    const repo = new RatingRepository(db, raw.defaultTimeZone);
    let t = performance.now();
    await repo.replaceTables(toRows(raw));
    console.log(`MariaDB import (one transaction):  ${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
    const loaded = await repo.load();
    const readMs = performance.now() - t;
    t = performance.now();
    const v = validateRuleSet(loaded);
    const validateMs = performance.now() - t;
    if (!v.ok) throw new Error('rule set read back from MariaDB is invalid');
    console.log(`MariaDB reload (read + validate):  ${(readMs + validateMs).toFixed(0)} ms (read ${readMs.toFixed(0)}, validate + index ${validateMs.toFixed(0)})`);
    t = performance.now();
    for (let i = 0; i < 5; i++) await repo.fingerprint();
    console.log(`MariaDB change check (CHECKSUM):   ${((performance.now() - t) / 5).toFixed(0)} ms per poll`);
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}, ${os.platform()} ${os.arch()}`);
  const { raw, prefixes } = buildRuleSet();
  console.log(`rules: ${raw.chargingRules.length.toLocaleString('en-US')}, tariffs: ${raw.tariffs.length}, steps: ${raw.tariffSteps.length}`);

  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const v = validateRuleSet(raw);
  const loadMs = performance.now() - t0;
  if (!v.ok) throw new Error(`benchmark rule set invalid: ${JSON.stringify(v.problems.slice(0, 5))}`);
  const engine = new RatingEngine(v.ruleSet);
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  console.log(`load (validate + index):           ${loadMs.toFixed(0)} ms`);
  console.log(`loaded rule set and index memory:  ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB (${v.ruleSet.index.nodeCount.toLocaleString('en-US')} trie nodes)`);

  // Inputs: destinations under existing prefixes (and some unmatched), instants over a year.
  const N = 1 << 16;
  const inputs: ServiceAttributes[] = [];
  const times: number[] = [];
  const year = Date.UTC(2026, 0, 1);
  for (let i = 0; i < N; i++) {
    let dest = rand() < 0.9 ? prefixes[Math.floor(rand() * prefixes.length)]! : String(1 + Math.floor(rand() * 9));
    while (dest.length < 11) dest += String(Math.floor(rand() * 10));
    inputs.push({ service: SERVICES[Math.floor(rand() * SERVICES.length)]!, callerPlan: rand() < 0.3 ? PLANS[Math.floor(rand() * PLANS.length)]! : null, vpnGroup: null, destination: dest });
    times.push(year + Math.floor(rand() * 365 * 86400) * 1000);
  }

  const run = (label: string, total: number, fn: (i: number) => number): void => {
    for (let i = 0; i < Math.min(total, 200_000); i++) fn(i & (N - 1)); // warm-up
    let sink = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < total; i++) sink += fn(i & (N - 1));
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    rate(label, total, ms, (used.user + used.system) / 1000);
    if (sink === -1) console.log('');
  };

  run('rule look-ups (findRule)', 3_000_000, (i) => engine.findRule(inputs[i]!, times[i]!)?.id ?? 0);
  run('quotes (quote)', 300_000, (i) => engine.quote(inputs[i]!, new Date(times[i]!)).ruleId);
  run('quote + price(0-3600 s)', 300_000, (i) => Number(engine.quote(inputs[i]!, new Date(times[i]!)).price((i * 37) % 3600) & 0xffffn));
  const quotes = Array.from({ length: 1024 }, (_, i) => engine.quote(inputs[i]!, new Date(times[i]!)));
  run('price on a held quote', 1_000_000, (i) => Number(quotes[i & 1023]!.price((i * 37) % 3600) & 0xffffn));
  run('maxSeconds on a held quote', 1_000_000, (i) => quotes[i & 1023]!.maxSeconds(BigInt((i * 7919) % 20_000_000)));
  console.log(`process RSS: ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
  await databaseFigures(raw);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
