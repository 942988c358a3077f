import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../lib/common/logger';
import type { Micros } from '../lib/common/money';
import { formatMoney } from '../lib/common/money';
import type { Grant } from '../lib/prepaid';
import type { CallObserver, ReleaseCause } from './calls/call-session';
import type { CdrRecord } from '../lib/db/cdr-repository';

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
}

/** Anything that runs query hooks the way Sequelize does (`beforeQuery`/`afterQuery`). */
export interface QueryHookTarget {
  addHook(name: 'beforeQuery' | 'afterQuery', fn: (options: unknown, query: object) => void): unknown;
}

export type ReloadArea = 'rating' | 'vpn';

/** Edge counters that are levels, not running totals. */
const EDGE_LEVELS = new Set(['tcpConnections', 'liveServerTransactions', 'liveClientTransactions', 'liveDialogs', 'appConnections']);

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
  private readonly reloads: Counter<'area' | 'outcome'>;
  /** Money reserved per live call on this instance, from its latest grant. */
  private readonly reservedByCall = new Map<string, Micros>();
  private sources: MetricSources | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_process_' });
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
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
    });
    this.reloads = new Counter({ name: 'tollgate_reloads_total', help: 'Reloads of the rating rule tables and the VPN directory, by outcome', labelNames: ['area', 'outcome'], registers });

    const self = this;
    new Gauge({ name: 'tollgate_calls_live', help: 'Calls in progress on this instance', registers, collect() { this.set(self.sources?.liveCalls() ?? 0); } });
    new Gauge({ name: 'tollgate_reservations_outstanding', help: 'Prepaid reservations this instance holds open', registers, collect() { this.set(self.sources?.reservationsOutstanding() ?? 0); } });
    new Gauge({
      name: 'tollgate_reserved_money', help: 'Money set aside for live calls on this instance, in currency units (all currencies added)', registers,
      collect() { this.set(Number(formatMoney(self.reservedTotal()))); },
    });
    new Gauge({ name: 'tollgate_settlement_journal_depth', help: 'Settlements waiting in the local journal for the database', registers, collect() { this.set(self.sources?.journalDepth() ?? 0); } });
    new Gauge({ name: 'tollgate_rating_rule_set_version', help: 'Rule sets in force since start (1 at start; grows with every reload that swapped)', registers, collect() { this.set(self.sources?.ratingVersion() ?? 0); } });

    // One fetch serves the three edge metrics of a scrape: the first collect starts it.
    let edgeFetch: Promise<Record<string, number> | undefined> | undefined;
    const fetchEdge = () => (edgeFetch ??= (self.sources?.edgeCounters?.() ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .finally(() => setTimeout(() => { edgeFetch = undefined; }, 100).unref()));
    new Gauge({
      name: 'tollgate_edge_up', help: '1 when the edge process answered the last scrape', registers,
      async collect() { this.set((await fetchEdge()) ? 1 : 0); },
    });
    new Counter({
      name: 'tollgate_edge_events_total', help: "The SIP edge's running counters (messages, bad messages, retransmissions absorbed, BYEs it sent…)", labelNames: ['event'], registers,
      async collect() {
        const c = await fetchEdge();
        // A counter only grows: it is set to the edge's running total, from zero.
        this.reset();
        for (const [k, v] of Object.entries(c ?? {})) if (!EDGE_LEVELS.has(k) && Number.isFinite(v) && v >= 0) this.inc({ event: snake(k) }, v);
      },
    });
    new Gauge({
      name: 'tollgate_edge_current', help: "The SIP edge's levels (live transactions and dialogs, TCP and app connections)", labelNames: ['item'], registers,
      async collect() {
        const c = await fetchEdge();
        this.reset();
        for (const [k, v] of Object.entries(c ?? {})) if (EDGE_LEVELS.has(k) && Number.isFinite(v)) this.set({ item: snake(k) }, v);
      },
    });
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
      offered: () => this.offered.inc(),
      refused: (code: string, status: number) => this.refused.inc({ reason: code, status: String(status) }),
      answered: () => this.answered.inc(),
      grant: (kind: 'first' | 'answer' | 'extension', grant: Grant) => {
        this.grants.inc({ kind, final: String(grant.final) });
        if (grant.addedSeconds > 0) this.grantedSeconds.inc({ kind }, grant.addedSeconds);
        this.reservedByCall.set(grant.callId, grant.reserved);
      },
      lowBalance: () => this.lowBalance.inc(),
      ended: (cdr: CdrRecord, cause: ReleaseCause) => {
        this.reservedByCall.delete(cdr.callId);
        this.ended.inc({ disposition: cdr.disposition, cause });
        if (cause === 'credit_exhausted') this.cutoffs.inc();
        if (cdr.billableSeconds > 0) this.billedSeconds.inc(cdr.billableSeconds);
      },
    };
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

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
