/**
 * Preloaded into the edge and the application processes by `npm run bench -- --gc-windows`
 * (supervisor.nodeArgs `--require=<this file>`): writes every garbage collection of the process as
 * a line `<epoch ms at its start> <pause ms> <kind>` (kind as perf_hooks numbers it: 1 minor,
 * 4 major, 8 incremental, 16 weak callbacks) to `<BENCH_GC_EVENTS_DIR>/<pid>.log`, so that the
 * benchmark can set the calls' set-up times against the pauses. Without the variable it does
 * nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.BENCH_GC_EVENTS_DIR;
if (dir) {
  const file = path.join(dir, `${process.pid}.log`);
  let lines: string[] = [];
  const flush = (): void => {
    if (lines.length === 0) return;
    try { fs.appendFileSync(file, lines.join('\n') + '\n'); } catch { /* the run's folder is gone: nothing to keep */ }
    lines = [];
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      lines.push(`${(performance.timeOrigin + e.startTime).toFixed(1)} ${e.duration.toFixed(2)} ${kind}`);
    }
  }).observe({ entryTypes: ['gc'] });
  setInterval(flush, 500).unref();
  process.on('exit', flush);
}
