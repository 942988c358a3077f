import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

/** The prefix of a Tollgate process's own metrics (the application's and the edge's alike). */
const PROCESS_METRICS_PREFIX = 'tollgate_process_';

/**
 * prom-client's process metrics (CPU, memory, V8 heap, event-loop lag, GC pauses by kind) without
 * its three `nodejs_active_*_total` gauges (a gauge must not end in `_total`; their per-type
 * `nodejs_active_*` gauges say the same and stay), and the V8 heap in use just after each full
 * collection. Returns a function that stops watching the collections.
 */
export function registerProcessMetrics(registry: Registry): () => void {
  const prefix = PROCESS_METRICS_PREFIX;
  collectDefaultMetrics({ register: registry, prefix });
  for (const what of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`${prefix}nodejs_active_${what}_total`);
  // The heap in use just after each full collection: what is really alive. The heap in use at a
  // scrape also counts garbage not yet collected, and RSS is seldom given back, so only this one
  // shows a leak while the process runs (a slope under steady load).
  const afterFullGc = new Gauge({ name: `${prefix}heap_used_after_full_gc_bytes`, help: 'V8 heap in use just after the last full (mark-compact) garbage collection', registers: [registry] });
  const observer = new PerformanceObserver((list) => {
    const major = list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR);
    if (major) afterFullGc.set(v8.getHeapStatistics().used_heap_size);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
