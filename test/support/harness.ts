/**
 * `npm test`: makes sure SIPp, MariaDB, promtool and Chromium are installed (apt-get as root, else says what to install),
 * starts a throwaway mariadbd on a free loopback port, runs mocha over the unit and integration
 * tests with TOLLGATE_TEST_MYSQL_URL pointing at it, and stops everything it started — mocha's
 * whole process group included, so no sipp or edge is left behind — on success, failure or signal.
 * The tests' temporary files (product data folders, SIPp logs, exports) go to a folder of the run's
 * own (TMPDIR for mocha and all it starts), removed at the end; a failed run keeps it and says where,
 * and TOLLGATE_TEST_KEEP_TMP=1 keeps it always.
 *
 *   node dist/test/support/harness.js [mocha args…]       extra args replace the default spec list
 *   node dist/test/support/harness.js --bench <script.js>  runs a benchmark script against the MariaDB
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findMariadbd, startMariaDb, TEST_MYSQL_ENV, type MariaDbServer } from './mariadb';

const ROOT = path.resolve(__dirname, '../../..');
const RUN_LIMIT_MS = Number(process.env.TOLLGATE_TEST_LIMIT_MS ?? 40 * 60_000);

function say(line: string): void {
  process.stderr.write(`[test harness] ${line}\n`);
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureTools(): void {
  const missing: string[] = [];
  if (!has('sipp')) missing.push('sip-tester');
  if (!findMariadbd() || !has('mariadb-install-db')) missing.push('mariadb-server');
  // promtool checks the metrics exposition; headless Chromium drives the admin console.
  if (!has('promtool')) missing.push('prometheus');
  if (!has('chromium')) missing.push('chromium');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    say(`missing tools; install the Debian packages: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(2);
  }
  say(`installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (update.status !== 0) say('apt-get update failed; trying the install anyway');
  // policy-rc.d keeps the package from starting a system-wide MariaDB service we do not use.
  const install = spawnSync('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; apt-get install -y -qq --no-install-recommends ${missing.join(' ')}; rc=$?; rm -f /usr/sbin/policy-rc.d; exit $rc`], { stdio: 'inherit', env });
  if (install.status !== 0 || !has('sipp') || !findMariadbd() || !has('promtool') || !has('chromium')) {
    say(`could not install ${missing.join(' ')}`);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  ensureTools();
  let db: MariaDbServer | undefined;
  let child: ChildProcess | undefined;
  let cleaning: Promise<void> | undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-test-'));
  let passed = false;

  const cleanup = (): Promise<void> => {
    cleaning ??= (async () => {
      if (child?.pid && child.exitCode === null) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
        await new Promise((r) => setTimeout(r, 1500));
      }
      if (child?.pid) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group has exited */ }
      }
      if (db) await db.destroy();
      if (passed && process.env.TOLLGATE_TEST_KEEP_TMP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
      else say(`the run's temporary files are kept in ${tmp}`);
    })();
    return cleaning;
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping`);
      void cleanup().then(() => process.exit(130));
    });
  }

  try {
    db = await startMariaDb();
    say(`MariaDB on 127.0.0.1:${db.port} (data ${db.dataDir})`);
    const env = { ...process.env, [TEST_MYSQL_ENV]: db.url(), TMPDIR: tmp };
    let cmd: string[];
    if (args[0] === '--bench') {
      if (!args[1]) throw new Error('--bench needs a script');
      cmd = [args[1], ...args.slice(2)];
    } else {
      const mocha = require.resolve('mocha/bin/mocha.js', { paths: [ROOT] });
      const specs = args.some((a) => !a.startsWith('-')) ? [] : ['dist/test/unit/**/*.test.js', 'dist/test/integration/**/*.test.js'];
      // --exit: a test that leaks a handle must not hang the run; its processes die with the group below.
      cmd = [mocha, '--timeout', '60000', '--exit', '--reporter', 'spec', ...specs, ...args];
    }
    // Its own process group, so cleanup can end every process the tests started.
    child = spawn(process.execPath, cmd, { cwd: ROOT, env, stdio: 'inherit', detached: true });
    const limit = setTimeout(() => {
      say(`the run exceeded ${RUN_LIMIT_MS} ms; stopping it`);
      void cleanup();
    }, RUN_LIMIT_MS);
    const code = await new Promise<number>((resolve) => child!.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
    clearTimeout(limit);
    passed = code === 0;
    return code;
  } catch (err) {
    say(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

main().then((code) => {
  say(code === 0 ? 'passed' : `failed (exit ${code})`);
  process.exit(code);
}, (err: unknown) => {
  say(String(err));
  process.exit(1);
});
