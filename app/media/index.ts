import type Srf from 'drachtio-srf';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/common/logger';
import type { Account } from '../../lib/prepaid';
import type { MediaConfig } from '../config/media';
import { MediaService } from './call-media';
import { FreeswitchMediaServer } from './media-server';
import { MediaMetrics } from './metrics';

export type { CallMedia, AnchoredMedia } from './call-media';

export interface RunningMedia {
  readonly service: MediaService;
  readonly server: FreeswitchMediaServer;
  /** For /ready: media never makes the instance unready, only degraded. */
  health(): 'up' | 'degraded';
  stop(): Promise<void>;
}

/**
 * The media layer, from the `media` config section: connects to FreeSWITCH in the background (the
 * application starts whether it is there or not) and gives the call sessions their CallMedia.
 */
export function startMedia(opts: {
  srf: Srf; config: MediaConfig; registry: Registry; accounts: { require(id: number): Promise<Account> }; logger: Logger;
}): RunningMedia {
  const { config } = opts;
  const server = new FreeswitchMediaServer(opts.srf, { ...config.freeswitch, reconnect: config.reconnect, healthCheckSeconds: config.healthCheckSeconds }, opts.logger);
  const metrics = new MediaMetrics(opts.registry);
  const service = new MediaService({
    srf: opts.srf, server, metrics, accounts: opts.accounts, promptTimeoutSeconds: config.promptTimeoutSeconds, logger: opts.logger,
    rules: { select: config.select, noCredit: config.noCredit, remainingTime: config.remainingTime, warning: config.warning },
  });
  server.start();
  return {
    service, server,
    health: () => (server.isUp ? 'up' : 'degraded'),
    stop: () => server.stop(),
  };
}
