/**
 * Runs the edge as its own process for tests and benchmarks:
 *   node dist/test/support/edge-process.js '<EdgeOptions as JSON>'
 * Prints one JSON line `{"ready":true,"sip":[…],"controlPort":n}` on stdout once listening, and
 * `{"counters":{…}}` on SIGUSR2; exits cleanly on SIGTERM.
 */
import { createLogger } from '../../lib/common/logger';
import { startEdge, type EdgeOptions } from '../../lib/edge';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as EdgeOptions;
  const logger = createLogger({ level: (process.env.EDGE_LOG_LEVEL as 'warn' | undefined) ?? 'warn', format: 'json', process: 'edge' });
  const edge = await startEdge(options, logger);
  process.stdout.write(JSON.stringify({ ready: true, sip: edge.sipAddresses, controlPort: edge.controlPort }) + '\n');
  process.on('SIGUSR2', () => process.stdout.write(JSON.stringify({ counters: edge.counters() }) + '\n'));
  process.on('SIGTERM', () => { void edge.close().then(() => process.exit(0)); });
}

main().catch((err) => { process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n'); process.exit(1); });
