import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../lib/common/logger';
import type { Micros } from '../lib/common/money';
import { formatMoney } from '../lib/common/money';
import type { Grant } from '../lib/prepaid';
import type { CallObserver, ReleaseCause } from './calls/call-session';
import type { CdrRecord } from '../lib/db/cdr-repository';
import { packageVersion } from './version';
import { registerEdgeMetrics, sharedRead } from './edge-metrics';
import { registerProcessMetrics } from './process-metrics';
import type { OverloadSignal, OverloadStatus } from './admission/overload';

/**
 * Prometheus metrics of the application process (prom-client). Calls are counted through the
 * CallObserver the call sessions report to; levels (live calls, reservations, journal depth) are
 * read from their owners at scrape time; the edge's counters are fetched from the edge process.
 */

/** What the metrics read at scrape time. */
export interface MetricSources {
  liveCalls(): number;
  /** Reservations this instance holds open (calls it is metering). */
  reservationsOutstanding(): number;
  /** Settlements waiting in the local journal for the database. */
  journalDepth(): number;
  /** How many rule sets have been in force since start (1 at start). */
  ratingVersion(): number;
  /** The edge's counters, or undefined when it cannot be reached (or is not configured). */
  edgeCounters?(): Promise<Record<string, number> | undefined>;
  /** The overload control's state and signals. */
  overload?(): OverloadStatus;
}

/** Anything that runs query hooks the way Sequelize does (`beforeQuery`/`afterQuery`). */
export interface QueryHookTarget {
  addHook(name: 'beforeQuery' | 'afterQuery', fn: (options: unknown, query: object) => void): unknown;
}

/** Sequelize's pool hooks; the options object is the same at both ends of one acquire. */
export interface PoolHookTarget {
  addHook(name: 'beforePoolAcquire', fn: (options?: object) => void): unknown;
  addHook(name: 'afterPoolAcquire', fn: (connection: unknown, options?: object) => void): unknown;
}

export type ReloadArea = 'rating' | 'vpn';

/** The credit-control operations that are timed; authorise, answer and extend are the grants. */
export const CREDIT_OPERATIONS = ['authorise', 'answer', 'extend', 'settle', 'release'] as const;
export type CreditOperation = (typeof CREDIT_OPERATIONS)[number];

/** Release causes of answered calls that we ended ourselves (a cut-off), not a party hanging up. */
const CUTOFF_CAUSES: ReadonlySet<string> = new Set(['credit_exhausted', 'database_unavailable', 'session_expired', 'edge_teardown', 'sip_server_lost', 'admin', 'shutdown', 'error']);

/** Trunk names come from the database; past this many distinct ones a label reads "other", so a bad row cannot blow up the series. */
export const MAX_TRUNK_LABELS = 64;
/** Calls whose admission is being timed; more than this in flight is a leak, not traffic. */
const MAX_PENDING_SETUPS = 100_000;

const OVERLOAD_CAUSE_LABELS: Record<OverloadSignal, string> = { callsInSetup: 'calls_in_setup', eventLoopLagMs: 'event_loop_lag', poolWaiters: 'pool_waiters', dialQueueMs: 'dial_queue' };

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 3600];
const ANSWER_DELAY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60];

/** A label whose values are capped: the first `max` distinct values pass, the rest read "other". */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  of(value: string | null | undefined): string {
    if (value === null || value === undefined || value === '') return 'none';
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}


export class TollgateMetrics {
  readonly registry = new Registry();
  private readonly offered: Counter;
  private readonly answered: Counter;
  private readonly refused: Counter<'reason' | 'status'>;
  private readonly ended: Counter<'disposition' | 'cause'>;
  private readonly cutoffs: Counter;
  private readonly grants: Counter<'kind' | 'final'>;
  private readonly grantedSeconds: Counter<'kind'>;
  private readonly lowBalance: Counter;
  private readonly billedSeconds: Counter;
  private readonly dbQuery: Histogram;
  private readonly dbPoolWait: Histogram;
  private readonly reloads: Counter<'area' | 'outcome'>;
  private readonly cutoffsByCause: Counter<'cause'>;
  private readonly setup: Histogram<'outcome'>;
  private readonly dialDelay: Histogram<string>;
  private readonly answerDelay: Histogram<'trunk'>;
  private readonly duration: Histogram<'trunk'>;
  private readonly trunkCalls: Counter<'side' | 'trunk' | 'disposition'>;
  private readonly creditLatency: Histogram<'operation' | 'outcome'>;
  private readonly overloadRefused: Counter<'cause'>;
  private readonly trunkLabel = new BoundedLabel(MAX_TRUNK_LABELS);
  /** When each call being admitted was offered (ms, monotonic). */
  private readonly setupStarted = new Map<string, number>();
  /** Money reserved per live call on this instance, from its latest grant. */
  private readonly reservedByCall = new Map<string, Micros>();
  private sources: MetricSources | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) this.processMetrics();
    new Gauge({ name: 'tollgate_build_info', help: 'Always 1; the labels say which Tollgate and Node.js run', labelNames: ['version', 'node'], registers }).set({ version: packageVersion(), node: process.version }, 1);
    this.offered = new Counter({ name: 'tollgate_calls_offered_total', help: 'INVITEs taken into admission', registers });
    this.answered = new Counter({ name: 'tollgate_calls_answered_total', help: 'Calls answered by the callee', registers });
    this.refused = new Counter({ name: 'tollgate_calls_refused_total', help: 'Calls refused during admission, by refusal code and SIP status', labelNames: ['reason', 'status'], registers });
    this.ended = new Counter({ name: 'tollgate_calls_ended_total', help: 'Calls ended (one per CDR), by disposition and release cause', labelNames: ['disposition', 'cause'], registers });
    this.cutoffs = new Counter({ name: 'tollgate_credit_cutoffs_total', help: 'Answered calls cut off because the credit ran out', registers });
    this.grants = new Counter({ name: 'tollgate_grants_total', help: 'Grants of call time: first (at INVITE), answer (re-priced at 200 OK), extension', labelNames: ['kind', 'final'], registers });
    this.grantedSeconds = new Counter({ name: 'tollgate_granted_seconds_total', help: 'Seconds added by grants, by kind', labelNames: ['kind'], registers });
    this.lowBalance = new Counter({ name: 'tollgate_low_balance_total', help: 'Grants after which an account was below its low-balance threshold', registers });
    this.billedSeconds = new Counter({ name: 'tollgate_billable_seconds_total', help: 'Billable seconds of ended calls', registers });
    this.dbQuery = new Histogram({
      name: 'tollgate_db_query_seconds', help: 'Database query latency (from sending the query to its result)',
      buckets: LATENCY_BUCKETS, registers,
    });
    this.dbPoolWait = new Histogram({
      name: 'tollgate_db_pool_wait_seconds', help: 'Time a query or transaction waited for a database connection from the pool',
      buckets: LATENCY_BUCKETS, registers,
    });
    this.cutoffsByCause = new Counter({ name: 'tollgate_call_cutoffs_total', help: 'Answered calls that Tollgate ended itself, by release cause (credit_exhausted, database_unavailable, session_expired, shutdown, admin, ...)', labelNames: ['cause'], registers });
    this.setup = new Histogram({
      name: 'tollgate_call_setup_seconds', help: 'Time from the INVITE to the admission decision: the outbound INVITE (admitted) or the refusal',
      labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    this.dialDelay = new Histogram({
      name: 'tollgate_call_dial_delay_seconds', help: "Time from a new INVITE's arrival at the application to its outbound INVITE's going out (first route): the product's own part of the post-dial delay",
      buckets: LATENCY_BUCKETS, registers,
    });
    this.answerDelay = new Histogram({
      name: 'tollgate_call_answer_delay_seconds', help: 'Time from the INVITE to the answer of answered calls, by egress trunk',
      labelNames: ['trunk'], buckets: ANSWER_DELAY_BUCKETS, registers,
    });
    this.duration = new Histogram({
      name: 'tollgate_call_duration_seconds', help: 'Connected time of answered calls (answer to end), by egress trunk; sum/count is the ACD',
      labelNames: ['trunk'], buckets: DURATION_BUCKETS, registers,
    });
    this.trunkCalls = new Counter({
      name: 'tollgate_trunk_calls_total', help: 'Ended calls by trunk (side ingress or egress) and disposition; answered over all egress calls is the ASR',
      labelNames: ['side', 'trunk', 'disposition'], registers,
    });
    this.creditLatency = new Histogram({
      name: 'tollgate_credit_control_seconds', help: 'Latency of credit-control operations: authorise, answer and extend are the grants; settle, release',
      labelNames: ['operation', 'outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    this.overloadRefused = new Counter({
      name: 'tollgate_overload_refused_total', help: 'New calls refused with 503 because the application was overloaded, by the signal that started the overload',
      labelNames: ['cause'], registers,
    });
    this.reloads = new Counter({ name: 'tollgate_reloads_total', help: 'Reloads of the rating rule tables and the VPN directory, by outcome', labelNames: ['area', 'outcome'], registers });

    const self = this;
    new Gauge({ name: 'tollgate_calls_live', help: 'Calls in progress on this instance', registers, collect() { this.set(self.sources?.liveCalls() ?? 0); } });
    new Gauge({ name: 'tollgate_reservations_outstanding', help: 'Prepaid reservations this instance holds open', registers, collect() { this.set(self.sources?.reservationsOutstanding() ?? 0); } });
    new Gauge({
      name: 'tollgate_reserved_money', help: 'Money set aside for live calls on this instance, in currency units (all currencies added; the books are in the database)', registers,
      collect() { this.set(Number(formatMoney(self.reservedTotal()))); },
    });
    new Gauge({ name: 'tollgate_settlement_journal_depth', help: 'Settlements waiting in the local journal for the database', registers, collect() { this.set(self.sources?.journalDepth() ?? 0); } });
    new Gauge({ name: 'tollgate_rating_rule_set_version', help: 'Rule sets in force since start (1 at start; grows with every reload that swapped)', registers, collect() { this.set(self.sources?.ratingVersion() ?? 0); } });

    const overload = () => self.sources?.overload?.();
    new Gauge({ name: 'tollgate_overloaded', help: '1 while new calls are refused for overload (every one, or a share)', registers, collect() { this.set(overload()?.overloaded ? 1 : 0); } });
    new Gauge({ name: 'tollgate_calls_in_setup', help: 'Calls in set-up: INVITE received, not yet answered or ended (an overload signal)', registers, collect() { this.set(overload()?.signals.callsInSetup ?? 0); } });
    new Gauge({ name: 'tollgate_overload_event_loop_lag_seconds', help: 'Event-loop lag p99 over the last second, as the overload control sees it', registers, collect() { this.set((overload()?.signals.eventLoopLagMs ?? 0) / 1000); } });
    new Gauge({ name: 'tollgate_overload_dial_queue_seconds', help: 'Median dial delay of the new calls of the last second above its floor, the lowest such median of calls.overload.dialFloorSeconds (0 with fewer than 20 calls, or before a tenth of that span has been watched)', registers, collect() { this.set((overload()?.signals.dialQueueMs ?? 0) / 1000); } });
    new Gauge({ name: 'tollgate_overload_refused_share', help: 'Share of new calls refused for overload: 1 while every one is, less while the dial queue sheds a share', registers, collect() { this.set(overload()?.refusedShare ?? 0); } });
    new Gauge({ name: 'tollgate_db_pool_waiters', help: 'Queries waiting for a pooled database connection, mean over the last quarter second (an overload signal)', registers, collect() { this.set(overload()?.signals.poolWaiters ?? 0); } });

    // One fetch of the edge's counters serves every edge metric of a scrape.
    const fetchEdge = sharedRead(() => self.sources?.edgeCounters?.() ?? Promise.resolve(undefined));
    new Gauge({
      name: 'tollgate_edge_up', help: '1 when the edge process answered the last scrape', registers,
      async collect() { this.set((await fetchEdge()) ? 1 : 0); },
    });
    registerEdgeMetrics(this.registry, fetchEdge);
  }

  /** The process's own metrics (app/process-metrics.ts), shared with the edge's /metrics. */
  private processMetrics(): void {
    registerProcessMetrics(this.registry);
  }

  /**
   * Times every credit-control operation of the target (in place, so every caller — admission,
   * call sessions, recovery — is measured without knowing it).
   */
  observeCreditControl(target: { [K in CreditOperation]: (...args: never[]) => Promise<unknown> }): void {
    for (const operation of CREDIT_OPERATIONS) {
      const original = target[operation].bind(target) as (...args: unknown[]) => Promise<unknown>;
      const timed = async (...args: unknown[]): Promise<unknown> => {
        const end = this.creditLatency.startTimer({ operation });
        try {
          const result = await original(...args);
          end({ outcome: operation === 'authorise' && (result as { granted?: boolean }).granted === false ? 'refused' : 'ok' });
          return result;
        } catch (err) {
          end({ outcome: 'error' });
          throw err;
        }
      };
      (target as unknown as Record<string, unknown>)[operation] = timed;
    }
  }

  /** Where the levels are read from; set once the application is built. */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  /** Times every query through the target's hooks. */
  observeDatabase(target: QueryHookTarget): void {
    const started = new WeakMap<object, bigint>();
    target.addHook('beforeQuery', (_o, query) => { started.set(query, process.hrtime.bigint()); });
    target.addHook('afterQuery', (_o, query) => {
      const t0 = started.get(query);
      if (t0 === undefined) return;
      started.delete(query);
      this.dbQuery.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  }

  /** Times the waits for a pooled connection (Sequelize's pool hooks): where calls queue when the pool is short. */
  observePoolWaits(target: PoolHookTarget): void {
    const started = new WeakMap<object, bigint>();
    target.addHook('beforePoolAcquire', (options) => { if (options) started.set(options, process.hrtime.bigint()); });
    target.addHook('afterPoolAcquire', (_connection, options) => {
      const t0 = options ? started.get(options) : undefined;
      if (t0 === undefined) return;
      started.delete(options!);
      this.dbPoolWait.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    });
  }

  /** A new call refused for overload. */
  refusedForOverload(cause: OverloadSignal): void {
    this.overloadRefused.inc({ cause: OVERLOAD_CAUSE_LABELS[cause] });
  }

  /** A reload of the rule tables or the directory and its outcome ('swapped', 'unchanged', 'rejected', 'failed', …). */
  reloaded(area: ReloadArea, outcome: string): void {
    this.reloads.inc({ area, outcome });
  }

  reservedTotal(): Micros {
    let sum = 0n;
    for (const v of this.reservedByCall.values()) sum += v;
    return sum;
  }

  /** The observer to give every call session. */
  callObserver(): CallObserver {
    return {
      offered: (callId: string) => {
        this.offered.inc();
        if (this.setupStarted.size < MAX_PENDING_SETUPS) this.setupStarted.set(callId, performance.now());
      },
      refused: (code: string, status: number) => this.refused.inc({ reason: code, status: String(status) }),
      dialled: (_callId: string, delayMs: number) => this.dialDelay.observe(delayMs / 1000),
      answered: () => this.answered.inc(),
      grant: (kind: 'first' | 'answer' | 'extension', grant: Grant) => {
        this.grants.inc({ kind, final: String(grant.final) });
        if (grant.addedSeconds > 0) this.grantedSeconds.inc({ kind }, grant.addedSeconds);
        this.reservedByCall.set(grant.callId, grant.reserved);
        if (kind === 'first') this.setupDone(grant.callId, 'admitted');
      },
      lowBalance: () => this.lowBalance.inc(),
      ended: (cdr: CdrRecord, cause: ReleaseCause) => {
        this.reservedByCall.delete(cdr.callId);
        this.setupDone(cdr.callId, cdr.disposition === 'refused' ? 'refused' : 'abandoned');
        this.ended.inc({ disposition: cdr.disposition, cause });
        if (cause === 'credit_exhausted') this.cutoffs.inc();
        if (cdr.disposition === 'answered' && CUTOFF_CAUSES.has(cause)) this.cutoffsByCause.inc({ cause });
        if (cdr.billableSeconds > 0) this.billedSeconds.inc(cdr.billableSeconds);
        this.trunkCalls.inc({ side: 'ingress', trunk: this.trunkLabel.of(cdr.ingressTrunk), disposition: cdr.disposition });
        if (cdr.egressTrunk) {
          const trunk = this.trunkLabel.of(cdr.egressTrunk);
          this.trunkCalls.inc({ side: 'egress', trunk, disposition: cdr.disposition });
          if (cdr.disposition === 'answered' && cdr.answerAt) {
            this.answerDelay.observe({ trunk }, Math.max(0, cdr.answerAt.getTime() - cdr.inviteAt.getTime()) / 1000);
            this.duration.observe({ trunk }, Math.max(0, cdr.endAt.getTime() - cdr.answerAt.getTime()) / 1000);
          }
        }
      },
    };
  }

  /** The admission decision of a call being timed; later calls for the same call change nothing. */
  private setupDone(callId: string, outcome: 'admitted' | 'refused' | 'abandoned'): void {
    const t0 = this.setupStarted.get(callId);
    if (t0 === undefined) return;
    this.setupStarted.delete(callId);
    this.setup.observe({ outcome }, (performance.now() - t0) / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * Logs a warning when an account goes below its low-balance threshold: once per crossing, not at
 * every grant while it stays below (a grant above the threshold, or a top-up, re-arms it).
 */
export class LowBalanceWarnings {
  private readonly below = new Set<number>();

  constructor(private readonly logger: Logger) {}

  observer(): CallObserver {
    return {
      lowBalance: (accountId: number, callId: string) => {
        if (this.below.has(accountId)) return;
        this.below.add(accountId);
        this.logger.warn('account below its low-balance threshold', { accountId, callId });
      },
      grant: (_kind, grant: Grant) => {
        if (!grant.lowBalance) this.below.delete(grant.accountId);
      },
    };
  }

  /** Money came in: the next crossing warns again. */
  rearm(accountId: number): void {
    this.below.delete(accountId);
  }
}

/** Several observers as one; each hook calls every observer that has it. A throwing observer is logged and never disturbs the call. */
export function combineObservers(logger: Logger, ...observers: CallObserver[]): CallObserver {
  const call = <K extends keyof CallObserver>(key: K, args: Parameters<NonNullable<CallObserver[K]>>): void => {
    for (const o of observers) {
      const fn = o[key] as ((...a: Parameters<NonNullable<CallObserver[K]>>) => void) | undefined;
      try {
        fn?.apply(o, args);
      } catch (err) {
        logger.warn('call observer failed', { hook: key, error: err instanceof Error ? err.message : String(err) });
      }
    }
  };
  return {
    offered: (...a) => call('offered', a),
    refused: (...a) => call('refused', a),
    dialled: (...a) => call('dialled', a),
    answered: (...a) => call('answered', a),
    grant: (...a) => call('grant', a),
    lowBalance: (...a) => call('lowBalance', a),
    ended: (...a) => call('ended', a),
  };
}

/** Fetches the edge process's counters (JSON) with a short timeout. */
export function edgeCountersFetcher(url: string, timeoutMs = 500): () => Promise<Record<string, number> | undefined> {
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return undefined;
      return (await res.json()) as Record<string, number>;
    } catch {
      return undefined;
    }
  };
}

