/**
 * What a live call holds in a process: the difference of two V8 heap snapshots (each taken after
 * a full GC, so only live objects count), by object type, divided by the live calls between them.
 *
 *   NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 BENCH_HOLD_MS=40000 npm run bench -- --rates 40 --step-seconds 25 --soak-minutes 0 --no-bare
 *   kill -USR2 <application pid>     # once with ~1000 live calls (the progress lines), once after they ended
 *   node dist/test/bench/heap-diff.js <snapshot with few calls> <snapshot with many> <live calls between them>
 *
 * The RSS per live call of `npm run bench` is larger: it includes what V8 has not collected yet.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self sizes and counts by "type:constructor" (strings of every kind as one). */
function summarize(file: string): { byKind: Map<string, { bytes: number; count: number }>; total: number } {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const byKind = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!] ?? '?';
    const name = /string/.test(type) ? '(string)' : ['code', 'hidden', 'number'].includes(type) ? '' : (s.strings[s.nodes[i + iName]!] ?? '').slice(0, 60);
    const bytes = s.nodes[i + iSize]!;
    total += bytes;
    const key = `${type}:${name}`;
    const e = byKind.get(key) ?? { bytes: 0, count: 0 };
    e.bytes += bytes;
    e.count++;
    byKind.set(key, e);
  }
  return { byKind, total };
}

function main(): void {
  const [fewer, more, callsArg] = process.argv.slice(2);
  const calls = Number(callsArg);
  if (!fewer || !more || !(calls > 0)) {
    console.error('usage: heap-diff <snapshot with few calls> <snapshot with many> <live calls between them>');
    process.exitCode = 2;
    return;
  }
  const a = summarize(fewer);
  const b = summarize(more);
  console.log(`live heap ${(a.total / 2 ** 20).toFixed(1)} MiB → ${(b.total / 2 ** 20).toFixed(1)} MiB: ${((b.total - a.total) / calls / 1024).toFixed(1)} KB per live call`);
  const rows = [...new Set([...a.byKind.keys(), ...b.byKind.keys()])].map((k) => {
    const x = a.byKind.get(k) ?? { bytes: 0, count: 0 };
    const y = b.byKind.get(k) ?? { bytes: 0, count: 0 };
    return { k, bytes: (y.bytes - x.bytes) / calls, count: (y.count - x.count) / calls };
  }).sort((p, q) => q.bytes - p.bytes);
  for (const r of rows.slice(0, 40)) console.log(`${r.bytes.toFixed(0).padStart(7)} B ${r.count.toFixed(1).padStart(6)} objects per call  ${r.k}`);
}

main();
