import type { Logger } from '../lib/common/logger';

export interface DatabaseWatchOptions {
  /** How often the database is asked; the heartbeat's period, so an outage is seen as soon as it hurts. */
  intervalMs: number;
  /** Bound of one ask: an unanswered ping counts as down. */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Says when the database goes away and when it is back, once each: one warning at the first
 * failed ping, one info line with how long it was away at the first good one. The pollers that
 * meet the same outage (heartbeat, rule and directory reloads, CDR spool) log it at debug only,
 * so an outage is one warning, not three every few seconds.
 */
export class DatabaseWatch {
  private timer: NodeJS.Timeout | undefined;
  private downSince: number | undefined;
  private checking: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly ping: () => Promise<void>, private readonly logger: Logger, private readonly options: DatabaseWatchOptions) {
    this.now = options.now ?? Date.now;
  }

  get isDown(): boolean { return this.downSince !== undefined; }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One ask; overlapping calls share it. */
  check(): Promise<void> {
    this.checking ??= this.askOnce().finally(() => { this.checking = undefined; });
    return this.checking;
  }

  private async askOnce(): Promise<void> {
    const bound = this.options.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.ping(),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${bound} ms`)), bound); }),
      ]);
      if (this.downSince !== undefined) {
        const downSeconds = Math.round((this.now() - this.downSince) / 100) / 10;
        this.downSince = undefined;
        this.logger.info('database reachable again', { downSeconds });
      }
    } catch (err) {
      if (this.downSince === undefined) {
        this.downSince = this.now();
        this.logger.warn('database unreachable; calls follow prepaid.failurePolicy until it is back', { error: err instanceof Error ? err.message : String(err) });
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
