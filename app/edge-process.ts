import http from 'node:http';
import type { Logger } from '../lib/common/logger';
import { startEdge, type EdgeOptions, type EdgeServer } from '../lib/edge';
import { Registry } from 'prom-client';
import type { TollgateConfig } from './config/schema';
import { registerEdgeMetrics, sharedRead } from './edge-metrics';
import { registerProcessMetrics } from './process-metrics';

/** Maps the config's `edge` section onto the edge's options. */
export function edgeOptions(config: TollgateConfig): EdgeOptions {
  const e = config.edge;
  return {
    sip: e.sip,
    control: e.control,
    publicAddress: e.publicAddress ?? undefined,
    timers: e.timers,
    sessionTimer: e.sessionTimer,
    appDisconnectGraceMs: Math.round(e.appDisconnectGraceSeconds * 1000),
    orphanRetentionMs: Math.round(e.orphanRetentionSeconds * 1000),
    limits: e.limits,
    cdrEvents: e.cdrEvents,
    userAgentBlacklist: e.userAgentBlacklist,
    options: e.options,
    unansweredRequests: e.unansweredRequests,
    udpReceiveBufferBytes: e.udpReceiveBufferBytes,
    finishedTransactions: e.finishedTransactions,
  };
}

export async function runEdge(config: TollgateConfig, logger: Logger): Promise<EdgeServer> {
  const edge = await startEdge(edgeOptions(config), logger);
  const m = config.metrics.edge;
  if (!m.enabled) return edge;
  const listener = await serveEdgeCounters(edge, m.address, m.port, logger).catch((err: unknown) => {
    // Counters are for watching: a busy port must not keep calls from flowing.
    logger.warn('edge counters not served', { address: m.address, port: m.port, error: err instanceof Error ? err.message : String(err) });
    return undefined;
  });
  if (!listener) return edge;
  return {
    get sipAddresses() { return edge.sipAddresses; },
    get controlPort() { return edge.controlPort; },
    counters: () => edge.counters(),
    drain: (timeoutMs: number) => edge.drain(timeoutMs),
    close: async () => {
      await new Promise<void>((resolve) => { listener.close(() => resolve()); listener.closeAllConnections(); });
      await edge.close();
    },
  };
}

/**
 * The edge's counters over HTTP for the application's /metrics (and for a scraper of its own):
 * GET /counters is JSON, GET /metrics the Prometheus text format, built with prom-client under
 * the same names the application republishes them by. /metrics also carries the edge process's
 * own CPU, memory, event-loop lag, GC pauses and heap after full collections, under the names the
 * application uses for its own (`tollgate_process_*`; the scrape's target tells them apart).
 */
export async function serveEdgeCounters(edge: Pick<EdgeServer, 'counters'>, address: string, port: number, logger: Logger): Promise<http.Server> {
  const registry = new Registry();
  // One read of the counters per scrape, not one per series.
  registerEdgeMetrics(registry, sharedRead(async () => edge.counters()));
  const stopProcessMetrics = registerProcessMetrics(registry);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/counters' && path !== '/metrics')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    if (path === '/counters') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(edge.counters()));
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: unknown) => {
        logger.error('edge metrics not built', { error: err instanceof Error ? err.message : String(err) });
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  server.on('close', stopProcessMetrics);
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => { stopProcessMetrics(); reject(err); };
    server.once('error', failed);
    server.listen(port, address, () => { server.off('error', failed); resolve(); });
  });
  const addr = server.address();
  logger.info('edge counters served', { address, port: typeof addr === 'object' && addr ? addr.port : port });
  return server;
}
