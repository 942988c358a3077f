import SrfClass from 'drachtio-srf';
import type Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeOptions, type EdgeServer } from '../../lib/edge';

/** Connects a drachtio-srf application to an edge on loopback; rejects on a refused secret. */
export function connectApp(srf: Srf, port: number, secret: string): Promise<void> {
  return new Promise((resolve, reject) => {
    srf.on('connect', (err) => (err ? reject(err) : resolve()));
    srf.on('error', reject);
    srf.connect({ host: '127.0.0.1', port, secret });
  });
}

/**
 * Runs `fn` with an edge on loopback UDP (short timers) and one drachtio-srf application connected
 * to it; both are closed afterwards, whatever `fn` does. `extra` adds edge options.
 */
export async function withEdgeAndApp(
  extra: Partial<EdgeOptions>, secret: string, fn: (edge: EdgeServer, srf: Srf, port: number) => Promise<void>,
): Promise<void> {
  const edge = await startEdge({
    sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
    control: { address: '127.0.0.1', port: 0, secret },
    timers: { t1: 50, t2: 400, t4: 500 },
    ...extra,
  }, silentLogger());
  const srf = new SrfClass();
  try {
    await connectApp(srf, edge.controlPort, secret);
    await fn(edge, srf, edge.sipAddresses[0]!.port);
  } finally { srf.disconnect(); await edge.close(); }
}
