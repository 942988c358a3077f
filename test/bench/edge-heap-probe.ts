/**
 * Preloaded into the edge process by the edge benchmark (`node --expose-gc --require …`): on
 * SIGUSR1 it collects garbage and prints `{"heap":{…}}` (process.memoryUsage() after a full GC),
 * so the benchmark can tell retained memory from RSS that only has not been given back yet.
 */
process.on('SIGUSR1', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) { gc(); gc(); }
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({ heap: { heapUsed: m.heapUsed, external: m.external, rss: m.rss, collected: gc !== undefined } }) + '\n');
});
