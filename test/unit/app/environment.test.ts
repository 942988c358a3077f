import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Runs `body` in a fresh Node process with app/environment loaded as `env`; returns its JSON output. */
function inChild(body: string, extraEnv: Record<string, string> = {}): unknown {
  const modulePath = path.resolve(__dirname, '../../../app/environment.js');
  const script = `const env = require(${JSON.stringify(modulePath)}); ${body}`;
  const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...extraEnv }, encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out);
}

describe('the application process environment snapshot', () => {
  it('makes process.env a plain object with the same entries, and is idempotent', () => {
    const r = inChild(`
      const before = { ...process.env };
      const wasSnapshot = env.environmentIsSnapshot();
      env.snapshotEnvironment();
      const first = process.env;
      env.snapshotEnvironment();
      console.log(JSON.stringify({
        wasSnapshot, isSnapshot: env.environmentIsSnapshot(), same: first === process.env,
        plain: Object.getPrototypeOf(process.env) === Object.prototype,
        equal: JSON.stringify(before) === JSON.stringify({ ...process.env }),
        value: process.env.TOLLGATE_ENV_PROBE, keys: Object.keys(process.env).includes('TOLLGATE_ENV_PROBE'),
      }));
    `, { TOLLGATE_ENV_PROBE: 'a,b c' }) as Record<string, unknown>;
    assert.deepEqual(r, { wasSnapshot: false, isSnapshot: true, same: true, plain: true, equal: true, value: 'a,b c', keys: true });
  });

  it('still hands the environment, with later writes, to a child process spawned without its own', () => {
    const r = inChild(`
      env.snapshotEnvironment();
      process.env.TOLLGATE_ENV_LATER = 'later';
      const out = require('node:child_process').execFileSync(process.execPath, ['-e', 'console.log(JSON.stringify([process.env.TOLLGATE_ENV_PROBE, process.env.TOLLGATE_ENV_LATER]))'], { encoding: 'utf8' });
      console.log(out);
    `, { TOLLGATE_ENV_PROBE: 'probe' });
    assert.deepEqual(r, ['probe', 'later']);
  });
});
