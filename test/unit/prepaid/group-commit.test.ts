import { strict as assert } from 'node:assert';
import { GroupCommit } from '../../../lib/db/database';

/** The group commit that settlements and CDRs share (lib/db/database.ts). */
describe('group commit of settlements and CDRs', () => {
  function recorder(opts: { manyFails?: Error; failsAll?: boolean } = {}) {
    const calls: string[] = [];
    const gc = new GroupCommit<number, string>(
      3,
      async (n) => { calls.push(`one ${n}`); if (n < 0) throw new Error(`bad ${n}`); return `ok ${n}`; },
      async (ns) => { calls.push(`many ${ns.join(',')}`); if (opts.manyFails) throw opts.manyFails; return ns.map((n) => `ok ${n}`); },
      () => opts.failsAll ?? false,
    );
    return { gc, calls };
  }

  it('writes a request alone at once, and those made meanwhile together, at most max at a time', async () => {
    const { gc, calls } = recorder();
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => gc.run(n)));
    assert.deepEqual(results, ['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5', 'ok 6']);
    assert.deepEqual(calls, ['one 1', 'many 2,3,4', 'many 5,6']);
    assert.deepEqual(await gc.run(7), 'ok 7');
    assert.deepEqual(calls.slice(3), ['one 7']);
  });

  it('writes each alone when the statement for several fails, so each gets its own outcome', async () => {
    const { gc, calls } = recorder({ manyFails: new Error('duplicate') });
    const results = await Promise.allSettled([1, 2, -3, 4].map((n) => gc.run(n)));
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), ['ok 1', 'ok 2', 'bad -3', 'ok 4']);
    assert.deepEqual(calls, ['one 1', 'many 2,-3,4', 'one 2', 'one -3', 'one 4']);
  });

  it('fails them all at once when the database cannot be reached', async () => {
    const down = new Error('database unavailable');
    const { gc, calls } = recorder({ manyFails: down, failsAll: true });
    const results = await Promise.allSettled([1, 2, 3].map((n) => gc.run(n)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected']);
    assert.equal((results[1] as PromiseRejectedResult).reason, down);
    assert.deepEqual(calls, ['one 1', 'many 2,3']);
  });
});
