/**
 * VPN resolution benchmark: builds generated directories of several sizes (load time), then
 * resolves a mix of calls in memory (resolutions per second). Prints figures and the machine.
 *
 * Then loads a 10,000-member directory from SQLite (in memory) and, when run through the test
 * harness (which starts MariaDB), from MariaDB: load time and the reloader's change check.
 *
 *   npm run bench:vpn [-- --seconds 3]
 *   npm run build && node dist/test/support/harness.js --bench dist/test/bench/vpn.js
 */
import os from 'node:os';
import { openDatabaseUrl } from '../../lib/db/database';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { Directory, resolveCall } from '../../lib/vpn';
import { TEST_MYSQL_ENV, testDatabaseUrl } from '../support/mariadb';
import { syntheticCalls, syntheticData, type SyntheticOptions } from '../unit/vpn/synthetic';
import { PLAN } from '../unit/vpn/fixture';

function argNumber(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? Number(process.argv[at + 1]) : fallback;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function heapMb(): number {
  return Math.round(process.memoryUsage().heapUsed / 1e5) / 10;
}

function bench(label: string, opts: SyntheticOptions, seconds: number): void {
  const data = syntheticData(opts);
  global.gc?.();
  const heapBefore = heapMb();
  const t0 = process.hrtime.bigint();
  const directory = Directory.build(data, PLAN);
  const buildMs = ms(t0);
  const heapAfter = heapMb();
  const calls = syntheticCalls(opts, 50_000);

  // Warm up, and count the outcomes once (so the mix is visible).
  const outcomes = new Map<string, number>();
  for (const call of calls) {
    const r = resolveCall(directory, call);
    const key = r.ok ? r.resolution.scope : `${r.refusal.status} ${r.refusal.code}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  let resolutions = 0;
  let sink = 0;
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const t1 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  while (process.hrtime.bigint() < deadline) {
    for (let k = 0; k < calls.length; k++) {
      const r = resolveCall(directory, calls[k]!);
      if (r.ok) sink += r.resolution.routes.length;
    }
    resolutions += calls.length;
  }
  const elapsed = ms(t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const mix = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((100 * v) / calls.length).toFixed(0)}%`).join(', ');
  console.log(`${label}: ${opts.groups} groups × ${opts.membersPerGroup} members = ${directory.counts.members} members, ${directory.counts.subscribers} subscribers, ${directory.counts.routes} routes`);
  console.log(`  build (validate + index): ${buildMs.toFixed(1)} ms; heap +${(heapAfter - heapBefore).toFixed(1)} MB`);
  console.log(`  resolutions: ${Math.round(resolutions / elapsed).toLocaleString('en')} /s wall, ${Math.round(resolutions / cpuSeconds).toLocaleString('en')} per CPU-second (${resolutions.toLocaleString('en')} in ${elapsed.toFixed(2)} s, one core; the two differ when the machine is busy)`);
  console.log(`  mix: ${mix}`);
  if (sink < 0) console.log(sink);
}

async function benchDatabase(label: string, url: string, opts: SyntheticOptions): Promise<void> {
  const db = await openDatabaseUrl(url);
  try {
    await db.migrate();
    const repo = new VpnRepository(db);
    const data = syntheticData(opts);
    let t = process.hrtime.bigint();
    await repo.importRows(data);
    const importMs = ms(t);
    const loads: number[] = [];
    const builds: number[] = [];
    for (let k = 0; k < 5; k++) {
      t = process.hrtime.bigint();
      const loaded = await repo.load();
      loads.push(ms(t));
      t = process.hrtime.bigint();
      Directory.build(loaded, PLAN);
      builds.push(ms(t));
    }
    const checks: number[] = [];
    for (let k = 0; k < 20; k++) {
      t = process.hrtime.bigint();
      await repo.version();
      checks.push(ms(t));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`${label}: ${data.members.length} members, ${data.subscribers.length} subscribers`);
    console.log(`  import ${importMs.toFixed(0)} ms; load (5 runs, median) ${median(loads).toFixed(1)} ms + build ${median(builds).toFixed(1)} ms; change check (version) ${median(checks).toFixed(2)} ms`);
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  const seconds = argNumber('seconds', 2);
  const cpu = os.cpus()[0];
  console.log(`machine: ${cpu?.model ?? 'unknown cpu'}, ${os.cpus().length} cores, node ${process.version}, ${os.platform()} ${os.arch()}`);
  bench('small', { groups: 10, membersPerGroup: 1000 }, seconds);
  bench('medium', { groups: 50, membersPerGroup: 2000, publicSubscribers: 10_000 }, seconds);
  bench('large', { groups: 200, membersPerGroup: 1000, publicSubscribers: 50_000 }, seconds);
  const dbSize: SyntheticOptions = { groups: 8, membersPerGroup: 1250, publicSubscribers: 200 };
  await benchDatabase('SQLite (in memory) load', 'sqlite::memory:', dbSize);
  if (process.env[TEST_MYSQL_ENV]) await benchDatabase('MariaDB load', await testDatabaseUrl('vpnbench'), dbSize);
  else console.log(`MariaDB load: skipped (${TEST_MYSQL_ENV} not set; run through the test harness with --bench)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
