import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const SCENARIOS = path.resolve(__dirname, '../../../../scenarios');

describe('scenarios/README.md', () => {
  it('names, for every caller scenario, its role and what must answer it; every far end it names exists', () => {
    const readme = fs.readFileSync(path.join(SCENARIOS, 'README.md'), 'utf8');
    const section = readme.split('### Which far end each caller needs')[1]?.split(/\n## /)[0] ?? '';
    const rows = new Map([...section.matchAll(/^\| `([^`]+\.xml)` \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [m[1]!, { role: m[2]!.trim(), answer: m[3]!.trim() }]));
    const callers = fs.readdirSync(SCENARIOS).filter((f) => /^(fault-)?uac-.*\.xml$/.test(f));
    assert.ok(callers.length >= 10);
    assert.deepEqual(callers.filter((f) => !rows.has(f)), [], 'callers without a row');
    for (const [scenario, row] of rows) {
      assert.ok(callers.includes(scenario), `${scenario} is in the table but not in scenarios/`);
      assert.match(row.role, /caller/);
      const farEnds = [...row.answer.matchAll(/`([^`]+\.xml)`/g)].map((m) => m[1]!);
      assert.ok(farEnds.length > 0 || /^none\b/.test(row.answer), `${scenario}: a far end or "none"`);
      for (const f of farEnds) assert.ok(fs.existsSync(path.join(SCENARIOS, f)), `${scenario}: ${f} exists`);
    }
  });
});
