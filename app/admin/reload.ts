import type { Logger } from '../../lib/common/logger';
import type { RatingReloader, ReloadOutcome as RatingOutcome } from '../../lib/rating';
import type { DirectoryReloader, VpnService } from '../../lib/vpn';
import type { ReloadArea } from '../metrics';

/** What a reload found, per area. */
export interface ReloadReport {
  rating: { outcome: RatingOutcome['kind']; rules?: number; problems?: string[]; error?: string };
  vpn: { outcome: string; problems: string[]; loadedAt: string };
}

export interface ReloadCounter {
  reloaded(area: ReloadArea, outcome: string): void;
}

/**
 * The live-reloadable data: the rating rule tables and the VPN directory. Polls the rule tables
 * on the configured interval (counting every outcome), and reloads both now on request (the admin
 * API's POST /reload, SIGHUP).
 */
export class ReloadControl {
  private timer: NodeJS.Timeout | undefined;
  private vpnSeen: Date | undefined;

  constructor(
    private readonly rating: RatingReloader,
    private readonly vpnReloader: DirectoryReloader,
    private readonly vpn: VpnService,
    private readonly counter: ReloadCounter | undefined,
    private readonly logger: Logger,
  ) {}

  /** Polls the rule tables every intervalMs (in place of the reloader's own timer, so outcomes are counted). */
  startRatingPolls(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.pollRating(); }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks both now and swaps in whatever changed (and validates). Never throws. */
  async reloadNow(reason: string): Promise<ReloadReport> {
    const [rating, vpnOutcome] = await Promise.all([this.pollRating(), this.vpnReloader.checkNow()]);
    this.counter?.reloaded('vpn', vpnOutcome);
    this.vpnSeen = this.vpnReloader.lastChange?.at;
    const last = this.vpnReloader.lastChange;
    const report: ReloadReport = {
      rating: {
        outcome: rating.kind,
        ...(rating.kind === 'swapped' ? { rules: rating.rules } : {}),
        ...(rating.kind === 'rejected' ? { problems: rating.problems.map((p) => `${p.table} row ${p.rowId}: ${p.reason}`) } : {}),
        ...(rating.kind === 'failed' ? { error: rating.error } : {}),
      },
      vpn: {
        outcome: vpnOutcome,
        problems: vpnOutcome === 'invalid' || vpnOutcome === 'failed' ? last?.problems ?? [] : [],
        loadedAt: this.vpn.snapshotLoadedAt.toISOString(),
      },
    };
    this.logger.info('reload requested', { reason, rating: rating.kind, vpn: vpnOutcome });
    return report;
  }

  /** Counts the directory reloader's own polls that found a change since the last look (called at scrape time). */
  countVpnPolls(): void {
    const last = this.vpnReloader.lastChange;
    if (!last || (this.vpnSeen && last.at <= this.vpnSeen)) return;
    this.vpnSeen = last.at;
    this.counter?.reloaded('vpn', last.outcome);
  }

  private async pollRating(): Promise<RatingOutcome> {
    const outcome = await this.rating.reloadIfChanged();
    this.counter?.reloaded('rating', outcome.kind);
    return outcome;
  }
}
