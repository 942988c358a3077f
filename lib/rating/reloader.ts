/**
 * Keeps the rating service in step with the tables: polls a cheap fingerprint, and when it moves,
 * loads the whole rule set, validates it and swaps it in. A set that fails validation is logged
 * problem by problem and the running set stays in force.
 */
import type { Logger } from '../common/logger';
import { RatingEngine, type RatingEngineOptions } from './engine';
import { RatingError } from './errors';
import { RatingService } from './service';
import type { RawRuleSet, RuleProblem } from './types';
import { validateRuleSet } from './validate';

/** Where rule sets come from (the database repository implements it). */
export interface RuleSetSource {
  /** A value that changes whenever any rule table changes. */
  fingerprint(): Promise<string>;
  /** The whole rule set as stored. */
  load(): Promise<RawRuleSet>;
}

export type ReloadOutcome =
  | { kind: 'unchanged' }
  | { kind: 'swapped'; rules: number; loadMs: number }
  | { kind: 'rejected'; problems: RuleProblem[] }
  | { kind: 'failed'; error: string };

export interface ReloaderOptions {
  intervalMs: number;
  logger: Logger;
  engineOptions?: RatingEngineOptions;
}

/** Loads and validates the current rule set; throws RULESET_INVALID listing every problem. */
export async function loadRatingEngine(source: RuleSetSource, engineOptions?: RatingEngineOptions): Promise<RatingEngine> {
  const result = validateRuleSet(await source.load());
  if (!result.ok) {
    throw new RatingError('RULESET_INVALID', `the rating tables have ${result.problems.length} problem(s): ${formatProblems(result.problems).join('; ')}`, { problems: result.problems });
  }
  return new RatingEngine(result.ruleSet, engineOptions);
}

export function formatProblems(problems: readonly RuleProblem[]): string[] {
  return problems.map((p) => `${p.table} row ${p.rowId}: ${p.reason}`);
}

export class RatingReloader {
  private timer: NodeJS.Timeout | null = null;
  private lastFingerprint: string | null = null;
  private running: Promise<ReloadOutcome> | null = null;

  constructor(private readonly service: RatingService, private readonly source: RuleSetSource, private readonly options: ReloaderOptions) {}

  /**
   * Loads the first rule set (it must be valid) and returns a service holding it, with a reloader
   * ready to start.
   */
  static async create(source: RuleSetSource, options: ReloaderOptions): Promise<{ service: RatingService; reloader: RatingReloader }> {
    const fingerprint = await source.fingerprint();
    const engine = await loadRatingEngine(source, options.engineOptions);
    const service = new RatingService(engine);
    const reloader = new RatingReloader(service, source, options);
    reloader.lastFingerprint = fingerprint;
    options.logger.info('rating rule set loaded', { rules: engine.ruleSet.ruleCount });
    return { service, reloader };
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      void this.reloadIfChanged();
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Waits for a check in progress, if any (for shutdown). */
  async settle(): Promise<void> {
    if (this.running) await this.running;
  }

  /** One poll: reloads when the fingerprint moved. Never throws; the outcome says what happened. */
  reloadIfChanged(): Promise<ReloadOutcome> {
    if (this.running === null) {
      this.running = this.check().finally(() => { this.running = null; });
    }
    return this.running;
  }

  private async check(): Promise<ReloadOutcome> {
    const log = this.options.logger;
    let fingerprint: string;
    try {
      fingerprint = await this.source.fingerprint();
    } catch (err) {
      log.debug('rating tables unreadable; keeping the rules in force', { error: String(err) }); // an outage is logged once, by the database watch
      return { kind: 'failed', error: String(err) };
    }
    if (fingerprint === this.lastFingerprint) return { kind: 'unchanged' };
    const started = Date.now();
    let raw: RawRuleSet;
    try {
      raw = await this.source.load();
    } catch (err) {
      log.debug('rating tables unreadable; keeping the rules in force', { error: String(err) }); // an outage is logged once, by the database watch
      return { kind: 'failed', error: String(err) };
    }
    // Remember the fingerprint either way: a rejected edit is reported once, not at every poll.
    this.lastFingerprint = fingerprint;
    const result = validateRuleSet(raw);
    if (!result.ok) {
      log.error('rating rule set rejected; the rules in force stay', { problems: result.problems.length });
      for (const p of result.problems) log.error('rating rule problem', { table: p.table, rowId: p.rowId, reason: p.reason });
      return { kind: 'rejected', problems: result.problems };
    }
    this.service.swap(new RatingEngine(result.ruleSet, this.options.engineOptions));
    const loadMs = Date.now() - started;
    log.info('rating rule set reloaded', { rules: result.ruleSet.ruleCount, loadMs });
    return { kind: 'swapped', rules: result.ruleSet.ruleCount, loadMs };
  }
}
