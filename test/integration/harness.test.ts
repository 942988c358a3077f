import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HARNESS = path.resolve(__dirname, '../support/harness.js');

/** Alive, not merely a zombie waiting for a parent that may never reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Processes whose command line contains the marker (read from /proc). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(marker) && isAlive(Number(entry))) pids.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

async function runHarness(spec: string, interruptAfterMs?: number): Promise<{ code: number | null; stderr: string }> {
  const env = { ...process.env };
  delete env.TOLLGATE_TEST_MYSQL_URL;
  const child = spawn(process.execPath, [HARNESS, spec], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout.on('data', () => undefined);
  if (interruptAfterMs !== undefined) {
    const started = Date.now();
    while (!fs.existsSync(spec + '.started') && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 100));
    setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
  }
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr };
}

/** A spec that starts a SIPp UAS in the background, records its pid, then fails or hangs. */
function writeSpec(dir: string, mode: 'fail' | 'hang'): string {
  const spec = path.join(dir, `${mode}.spec.js`);
  fs.writeFileSync(spec, `
    const { spawn } = require('node:child_process');
    const fs = require('node:fs');
    describe('a run that leaves things behind', function () {
      this.timeout(120000);
      it('starts sipp and ${mode}s', async () => {
        const sipp = spawn('sipp', ['-sn', 'uas', '-i', '127.0.0.1', '-p', '0', '-bg'.slice(0, 0) || '-nostdin'], { stdio: 'ignore' });
        fs.writeFileSync(${JSON.stringify(spec)} + '.sipp', String(sipp.pid));
        fs.writeFileSync(${JSON.stringify(spec)} + '.mysql', process.env.TOLLGATE_TEST_MYSQL_URL || '');
        fs.writeFileSync(${JSON.stringify(spec)} + '.started', '');
        ${mode === 'fail' ? "throw new Error('deliberate failure');" : 'await new Promise((r) => setTimeout(r, 100000));'}
      });
    });`);
  return spec;
}

describe('the test harness', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-harness-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  for (const mode of ['fail', 'hang'] as const) {
    it(`leaves no mariadbd or sipp running after a run that ${mode === 'fail' ? 'fails' : 'is interrupted'}`, async () => {
      const spec = writeSpec(dir, mode);
      const { code, stderr } = await runHarness(spec, mode === 'hang' ? 500 : undefined);
      assert.notEqual(code, 0, 'the run reports failure');
      const sippPid = Number(fs.readFileSync(spec + '.sipp', 'utf8'));
      const mysqlUrl = fs.readFileSync(spec + '.mysql', 'utf8');
      assert.match(mysqlUrl, /^mysql:\/\/root@127\.0\.0\.1:\d+\//, 'the run had its own MariaDB');
      const dataDir = /\(data ([^)]+)\)/.exec(stderr)?.[1];
      assert.ok(dataDir, `the harness names its data directory: ${stderr}`);
      assert.equal(isAlive(sippPid), false, 'sipp was stopped');
      assert.deepEqual(processesWith(dataDir!), [], 'mariadbd was stopped');
      assert.equal(fs.existsSync(dataDir!), false, 'the temporary data directory was removed');
    });
  }
});
