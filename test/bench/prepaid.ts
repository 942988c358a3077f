/**
 * Prepaid benchmark: complete prepaid calls (authorise → answer → settle) against MariaDB, spread
 * over 100 accounts and all on one hot account, with a fixed number of calls in flight, then one
 * call at a time for the latency of each step without queueing; SQLite for comparison. Prints calls
 * per second and the latency of each step; asserts nothing except that the books balance.
 *
 *   npm run bench:prepaid                              # via the test harness (starts MariaDB)
 *   node dist/test/bench/prepaid.js [calls] [inFlight] # with TOLLGATE_TEST_MYSQL_URL set
 */
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { formatMoney, parseMoney } from '../../lib/common/money';
import { openDatabase, databaseOptionsFromUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { silentLogger } from '../../lib/common/logger';
import { CreditControl, DEFAULT_CREDIT_CONTROL_OPTIONS, MemorySettlementJournal, type Account } from '../../lib/prepaid';
import { testDatabaseUrl } from '../support/mariadb';
import { tenSecondSteps } from '../support/prepaid-fixtures';

const CALLS = Number(process.argv[2] ?? 5000);
const IN_FLIGHT = Number(process.argv[3] ?? 32);
const tariff = tenSecondSteps();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

async function run(label: string, db: Database, accountCount: number, inFlight = IN_FLIGHT, calls = CALLS): Promise<void> {
  const repo = new PrepaidRepository(db);
  const cc = new CreditControl({ store: repo, journal: new MemorySettlementJournal() }, { ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId: `bench-${label}` });
  const accounts: Account[] = [];
  const tag = Date.now().toString(36);
  for (let i = 0; i < accountCount; i++) {
    const a = await cc.accounts.create({ code: `bench-${label}-${tag}-${i}`, kind: 'prepaid', currency: 'EUR' });
    await cc.topup(a.id, parseMoney('1000000'), `bench-open-${a.code}`);
    accounts.push(a);
  }
  const lat = { authorise: [] as number[], answer: [] as number[], settle: [] as number[] };
  let refused = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= calls) return;
      const callId = `bench-${label}-${tag}-${i}`;
      const accountId = accounts[i % accounts.length]!.id;
      let t = process.hrtime.bigint();
      const auth = await cc.authorise({ callId, accountId, pricer: tariff });
      lat.authorise.push(ms(process.hrtime.bigint() - t));
      if (!auth.granted) { refused++; continue; }
      t = process.hrtime.bigint();
      await cc.answer(callId, tariff);
      lat.answer.push(ms(process.hrtime.bigint() - t));
      t = process.hrtime.bigint();
      await cc.settle(callId, 1 + (i % 300));
      lat.settle.push(ms(process.hrtime.bigint() - t));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = ms(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const audit = await repo.auditAccounts();
  const ok = audit.filter((a) => accounts.some((x) => x.id === a.accountId)).every((a) => a.ok);
  const line = (name: string, v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    return `${name.padEnd(9)} p50 ${percentile(s, 50).toFixed(2)} ms  p99 ${percentile(s, 99).toFixed(2)} ms  max ${(s[s.length - 1] ?? 0).toFixed(2)} ms`;
  };
  console.log(`\n${label}: ${calls} calls over ${accountCount} account(s), ${inFlight} in flight`);
  console.log(`  calls (authorise+answer+settle) per second: ${(calls / seconds).toFixed(0)}  (authorise+settle pairs: ${(lat.settle.length / seconds).toFixed(0)}/s, ${refused} refused)`);
  console.log(`  node CPU per call: ${((used.user + used.system) / 1000 / calls).toFixed(2)} ms (this process; the database runs beside it)`);
  console.log(`  ${line('authorise', lat.authorise)}`);
  console.log(`  ${line('answer', lat.answer)}`);
  console.log(`  ${line('settle', lat.settle)}`);
  console.log(`  books: ${ok ? "balance = ledger, reserved = live reservations on every account" : "INCONSISTENT"}`);
}

async function main(): Promise<void> {
  const url = await testDatabaseUrl('bench');
  const db = await openDatabase({ ...databaseOptionsFromUrl(url), pool: { max: 16, min: 0, acquireMs: 30_000, idleMs: 10_000 } }, silentLogger());
  await db.migrate();
  const [version] = await db.sequelize.query<{ v: string }>('SELECT VERSION() AS v', { type: QueryTypes.SELECT });
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}, MariaDB ${version?.v ?? '?'} (pool 16)`);
  await run('mariadb-100-accounts', db, 100);
  await run('mariadb-hot-account', db, 1);
  await run('mariadb-one-at-a-time', db, 100, 1, Math.min(CALLS, 1000));
  await db.close();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-bench-sqlite-'));
  const lite = await openDatabase({ ...databaseOptionsFromUrl(`sqlite:${path.join(dir, 'bench.sqlite')}`) }, silentLogger());
  await lite.migrate();
  await run('sqlite-100-accounts', lite, 100);
  await lite.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
