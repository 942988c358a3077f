import type { Logger } from '../lib/common/logger';
import { startEdge, type EdgeOptions, type EdgeServer } from '../lib/edge';
import type { TollgateConfig } from './config/schema';

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
    limits: e.limits,
    cdrEvents: e.cdrEvents,
  };
}

export async function runEdge(config: TollgateConfig, logger: Logger): Promise<EdgeServer> {
  const edge = await startEdge(edgeOptions(config), logger);
  return edge;
}
