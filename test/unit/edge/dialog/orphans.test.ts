import assert from 'node:assert/strict';
import { OrphanRecords } from '../../../../lib/edge/dialog/orphans';

describe('orphan records', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('records open dialogs and their first end, and answers only the ids asked for', () => {
    const o = new OrphanRecords(60_000, 100, clock);
    o.record('a;from-tag=1', 'a');
    o.record('b;from-tag=2', 'b');
    now += 500;
    o.ended('a;from-tag=1', 'bye-received');
    now += 500;
    o.ended('a;from-tag=1', 'grace-bye');      // the first end wins
    o.ended('unknown;from-tag=9', 'grace-bye'); // not an orphan: ignored
    const q = o.query(['a;from-tag=1', 'b;from-tag=2', 'unknown;from-tag=9']);
    assert.equal(q.now, now);
    assert.deepEqual(q.dialogs, {
      'a;from-tag=1': { endedAt: now - 500, how: 'bye-received' },
      'b;from-tag=2': { endedAt: null, how: null },
    });
    assert.deepEqual(Object.keys(o.query([]).dialogs), ['a;from-tag=1', 'b;from-tag=2']);
    assert.equal(o.recorded, 2);
    assert.deepEqual(o.openIds(), ['b;from-tag=2']);
  });

  it('drops ended records after the retention, never open ones', () => {
    const o = new OrphanRecords(10_000, 100, clock);
    o.record('old', 'c1');
    o.record('live', 'c2');
    o.ended('old', 'session-timer');
    now += 10_001;
    o.prune();
    assert.equal(o.has('old'), false);
    assert.equal(o.has('live'), true);
  });

  it('keeps at most the bound, dropping the oldest first', () => {
    const o = new OrphanRecords(60_000, 3, clock);
    for (const id of ['1', '2', '3', '4', '5']) o.record(id, id);
    assert.equal(o.size, 3);
    assert.deepEqual(Object.keys(o.query([]).dialogs), ['3', '4', '5']);
    assert.equal(o.recorded, 5);
  });
});
