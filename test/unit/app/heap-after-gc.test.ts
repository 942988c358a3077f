import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TollgateMetrics } from '../../../app/metrics';

describe('heap in use after a full collection (tollgate_process_heap_used_after_full_gc_bytes)', () => {
  it('is set after a full collection, near the heap in use then, and falls when garbage is collected', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const metrics = new TollgateMetrics();
    const read = async () => Number(/^tollgate_process_heap_used_after_full_gc_bytes (\S+)$/m.exec(await metrics.registry.metrics())?.[1] ?? NaN);
    const settled = async (pred: (v: number) => boolean) => {
      // The observer reports after the collection, from the event loop: bounded wait.
      for (let i = 0; i < 100; i++) { const v = await read(); if (pred(v)) return v; await new Promise((r) => setTimeout(r, 10)); }
      return read();
    };
    let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    gc();
    const withGarbage = await settled((v) => v > 0);
    assert.ok(withGarbage > 10_000_000, `about the live heap with 200,000 objects held: ${withGarbage}`);
    garbage = undefined;
    gc();
    const without = await settled((v) => v < withGarbage);
    assert.ok(without < withGarbage - 5_000_000, `falls once they are garbage: ${withGarbage} → ${without}`);
    assert.equal(garbage, undefined);
  });
});
