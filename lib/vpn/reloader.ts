import { errorMessage } from '../common/errors';
import type { Logger } from '../common/logger';
import { Directory } from './directory';
import type { VpnService } from './service';
import type { DirectoryData } from './types';

/** Where directory data comes from (the VPN repository). */
export interface DirectorySource {
  /** A cheap fingerprint of the stored data; it changes whenever a row does. */
  version(): Promise<string>;
  /** The whole data set, read consistently. */
  load(): Promise<DirectoryData>;
}

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'invalid' | 'failed';

export interface ReloaderOptions {
  intervalMs: number;
  logger: Logger;
}

/**
 * Polls the source's version and, when it changed, loads, validates and swaps the whole
 * directory. A set that fails validation is logged once and the running one stays; a failed
 * poll (database down) is logged and retried at the next interval.
 */
export class DirectoryReloader {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<ReloadOutcome> | undefined;
  private seenVersion: string | undefined;
  private last: { outcome: ReloadOutcome; at: Date; problems: string[] } | undefined;

  constructor(private readonly service: VpnService, private readonly source: DirectorySource, private readonly options: ReloaderOptions) {}

  /** Loads now (throws when the first load fails or is invalid), then polls. */
  async start(): Promise<void> {
    const outcome = await this.reload(true);
    if (outcome !== 'reloaded') throw new Error(`initial VPN directory load ${outcome}`);
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One poll; concurrent calls share the one in flight. */
  checkNow(): Promise<ReloadOutcome> {
    if (!this.inFlight) {
      this.inFlight = this.reload(false).finally(() => { this.inFlight = undefined; });
    }
    return this.inFlight;
  }

  /** The last poll that found a change: reloaded, invalid (with the problems) or failed. */
  get lastChange(): { outcome: ReloadOutcome; at: Date; problems: string[] } | undefined {
    return this.last;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.checkNow().finally(() => this.schedule());
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async reload(first: boolean): Promise<ReloadOutcome> {
    const { logger } = this.options;
    let version: string;
    try {
      version = await this.source.version();
      if (!first && version === this.seenVersion) return 'unchanged';
      const started = process.hrtime.bigint();
      const data = await this.source.load();
      const directory = Directory.build(data, this.service.plan);
      this.service.swap(directory);
      this.seenVersion = version;
      this.last = { outcome: 'reloaded', at: new Date(), problems: [] };
      logger.info('VPN directory loaded', { ...directory.counts, ...directory.featureCounts, ms: Number(process.hrtime.bigint() - started) / 1e6 });
      return 'reloaded';
    } catch (err) {
      if (first) throw err;
      const problems = (err as { problems?: unknown }).problems;
      if (Array.isArray(problems)) {
        // Remember the bad version so it is reported once, not at every poll.
        this.seenVersion = version!;
        this.last = { outcome: 'invalid', at: new Date(), problems: problems.map(String) };
        logger.error('VPN directory not reloaded: it does not validate; the running one stays', { problems });
        return 'invalid';
      }
      this.last = { outcome: 'failed', at: new Date(), problems: [errorMessage(err)] };
      logger.debug('VPN directory reload failed; will retry', { error: errorMessage(err) }); // an outage is logged once, by the database watch
      return 'failed';
    }
  }
}
