import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../../../..');

function tryACallScript(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^## Try a call\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(section, 'README has a "Try a call" section');
  const block = /```sh\n([\s\S]*?)```/.exec(section[1]);
  assert.ok(block, 'the section has a sh block');
  return block[1];
}

describe('README "Try a call"', () => {
  const script = tryACallScript();
  const commands = script.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

  it('is valid sh', () => {
    const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('never leaves SIPp on the terminal: each run is -bg or -nostdin, none is put in the background with &', () => {
    const sipps = commands.filter((l) => /\bsipp\b/.test(l));
    assert.ok(sipps.length >= 2, 'a callee and a caller');
    for (const line of sipps) assert.match(line, /\s-(bg|nostdin)\b/, line);
    for (const line of commands) assert.doesNotMatch(line, /&\s*$/, line);
  });

  it('writes no fixed file: temporary files come from mktemp', () => {
    for (const line of commands) assert.doesNotMatch(line, /\/tmp\//, line);
    assert.match(script, /\$\(mktemp\)/);
  });

  it('uses only scenarios that exist', () => {
    const used = [...script.matchAll(/scenarios\/[\w./-]+\.xml/g)].map((m) => m[0]);
    assert.ok(used.length >= 2);
    for (const file of used) assert.ok(fs.existsSync(path.join(ROOT, file)), file);
  });
});
