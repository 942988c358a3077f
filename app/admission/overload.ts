import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../../lib/common/logger';
import type { CallObserver } from '../calls/call-session';

/**
 * Overload control of new calls. Near saturation, calls queue (event-loop lag, then database
 * pool waits) and every call's set-up gets slower until calls time out; instead, while the
 * application is overloaded a new INVITE is refused at once, before any database work, with
 * 503, Retry-After and a Reason. In-dialog requests, settlements and extensions never come here:
 * only new calls are refused. The work in progress stays bounded and the calls admitted keep a
 * short set-up.
 *
 * Signals, all cheap: calls in set-up (counted exactly as calls are admitted, answered and end),
 * the event-loop lag over the last second, the median dial delay of the last second (how long the
 * product took from a new INVITE's arrival to its outbound INVITE's going out: the queue a new call
 * meets, whichever process or the database it is in) and the database pool's waiters averaged over
 * the last quarter second (sampled by timers or recorded as calls go, not computed per INVITE). The decision per INVITE is O(1). Hysteresis: overload starts
 * when one signal reaches its bound and ends only when every signal is back at or below
 * `clearRatio` of its bound, and not before it lasted `minOverloadSeconds`, so it does not flap.
 */

export interface OverloadSettings {
  enabled: boolean;
  /** New calls are refused while this many calls are in set-up (INVITE received, not yet answered or ended). */
  maxCallsInSetup: number;
  /** … or while the event loop's p99 lag over the last window is above this. */
  maxEventLoopLagMs: number;
  /** … or while more than this many queries wait for a pooled database connection (mean over the last quarter second). */
  maxPoolWaiters: number;
  /** … or while the median dial delay of the last window is above this (0: not a signal). */
  maxDialDelayMs: number;
  /** Overload ends when every signal is at or below this share of its bound. */
  clearRatio: number;
  /** The least time an overload lasts once it started. */
  minOverloadSeconds: number;
  /** Retry-After of the 503. */
  retryAfterSeconds: number;
}

export interface OverloadSignals {
  callsInSetup: number;
  eventLoopLagMs: number;
  poolWaiters: number;
  dialDelayMs: number;
}

export type OverloadSignal = keyof OverloadSignals;

/** What the control reads besides its own count of calls in set-up. */
export interface OverloadSources {
  eventLoopLagMs(): number;
  poolWaiters(): number;
  dialDelayMs(): number;
}

/** The refusal of a new call for overload. */
export interface OverloadRefusal {
  retryAfterSeconds: number;
  cause: OverloadSignal;
}

/** What the SIP application asks at each new INVITE. */
export interface NewCallGate {
  /** undefined: the call goes on, and counts as in set-up until it is answered or ends. */
  admit(callId: string): OverloadRefusal | undefined;
}

export interface OverloadStatus {
  overloaded: boolean;
  signals: OverloadSignals;
  /** New calls refused for overload since start. */
  refused: number;
}

export interface OverloadState {
  overloaded: boolean;
  /** When the current overload started (clock ms); meaningless when not overloaded. */
  since: number;
  cause: OverloadSignal | undefined;
}

/** The first signal at its bound, if any. */
export function signalOverBound(signals: OverloadSignals, s: OverloadSettings): OverloadSignal | undefined {
  if (signals.callsInSetup >= s.maxCallsInSetup) return 'callsInSetup';
  if (signals.eventLoopLagMs > s.maxEventLoopLagMs) return 'eventLoopLagMs';
  if (signals.poolWaiters > s.maxPoolWaiters) return 'poolWaiters';
  if (s.maxDialDelayMs > 0 && signals.dialDelayMs > s.maxDialDelayMs) return 'dialDelayMs';
  return undefined;
}

function allCleared(signals: OverloadSignals, s: OverloadSettings): boolean {
  return signals.callsInSetup <= s.maxCallsInSetup * s.clearRatio
    && signals.eventLoopLagMs <= s.maxEventLoopLagMs * s.clearRatio
    && signals.poolWaiters <= s.maxPoolWaiters * s.clearRatio
    && (s.maxDialDelayMs <= 0 || signals.dialDelayMs <= s.maxDialDelayMs * s.clearRatio);
}

/** The next state, from the current one and the signals at `now` (ms). Pure. */
export function nextOverloadState(current: OverloadState, signals: OverloadSignals, s: OverloadSettings, now: number): OverloadState {
  if (!s.enabled) return { overloaded: false, since: 0, cause: undefined };
  if (!current.overloaded) {
    const cause = signalOverBound(signals, s);
    return cause ? { overloaded: true, since: now, cause } : current;
  }
  if (now - current.since >= s.minOverloadSeconds * 1000 && allCleared(signals, s)) return { overloaded: false, since: 0, cause: undefined };
  return current;
}

type Clock = () => number;

export class OverloadControl implements NewCallGate {
  private readonly inSetup = new Set<string>();
  private state: OverloadState = { overloaded: false, since: 0, cause: undefined };
  private refusedTotal = 0;
  /** Of the current overload, for its end line. */
  private episode = { refused: 0, peak: noSignals() };

  constructor(
    private readonly settings: OverloadSettings,
    private readonly sources: OverloadSources,
    private readonly logger: Logger,
    private readonly clock: Clock = () => performance.now(),
    private readonly onRefused: (cause: OverloadSignal) => void = () => undefined,
    private readonly onDialled: (delayMs: number) => void = () => undefined,
  ) {}

  admit(callId: string): OverloadRefusal | undefined {
    this.evaluate();
    const { cause } = this.state;
    if (this.state.overloaded && cause) {
      this.refusedTotal++;
      this.episode.refused++;
      this.onRefused(cause);
      return { retryAfterSeconds: this.settings.retryAfterSeconds, cause };
    }
    this.inSetup.add(callId);
    return undefined;
  }

  /** Calls leave set-up when answered or ended (an admitted call always ends in one of them). */
  observer(): CallObserver {
    return {
      dialled: (_callId: string, delayMs: number) => { this.onDialled(delayMs); },
      answered: (callId: string) => { this.inSetup.delete(callId); },
      ended: (cdr) => { this.inSetup.delete(cdr.callId); },
    };
  }

  signals(): OverloadSignals {
    return {
      callsInSetup: this.inSetup.size, eventLoopLagMs: this.sources.eventLoopLagMs(), poolWaiters: this.sources.poolWaiters(), dialDelayMs: this.sources.dialDelayMs(),
    };
  }

  /** Moves the state on; called at each INVITE and by the lag sampler, so an overload also ends with no new calls. */
  evaluate(): void {
    const now = this.clock();
    const signals = this.signals();
    const next = nextOverloadState(this.state, signals, this.settings, now);
    if (next.overloaded) {
      const peak = this.episode.peak;
      for (const k of Object.keys(peak) as OverloadSignal[]) peak[k] = Math.max(peak[k], signals[k]);
    }
    if (next.overloaded === this.state.overloaded) { this.state = next; return; }
    if (next.overloaded) {
      this.logger.warn('overload started: new calls are refused with 503', { cause: next.cause, ...rounded(signals), ...this.bounds() });
    } else {
      this.logger.info('overload ended: new calls are admitted again', {
        cause: this.state.cause, durationMs: Math.round(now - this.state.since), refused: this.episode.refused, peak: rounded(this.episode.peak), ...rounded(signals),
      });
      this.episode = { refused: 0, peak: noSignals() };
    }
    this.state = next;
  }

  status(): OverloadStatus {
    return { overloaded: this.state.overloaded, signals: this.signals(), refused: this.refusedTotal };
  }

  private bounds() {
    const s = this.settings;
    return { maxCallsInSetup: s.maxCallsInSetup, maxEventLoopLagMs: s.maxEventLoopLagMs, maxPoolWaiters: s.maxPoolWaiters, maxDialDelayMs: s.maxDialDelayMs };
  }
}

function noSignals(): OverloadSignals {
  return { callsInSetup: 0, eventLoopLagMs: 0, poolWaiters: 0, dialDelayMs: 0 };
}

/** Signals as logged: the lag, the mean waiters and the dial delay to a tenth. */
function rounded(s: OverloadSignals): OverloadSignals {
  const tenth = (v: number) => Math.round(v * 10) / 10;
  return { callsInSetup: s.callsInSetup, eventLoopLagMs: tenth(s.eventLoopLagMs), poolWaiters: tenth(s.poolWaiters), dialDelayMs: tenth(s.dialDelayMs) };
}

/** The event-loop lag is the p99 of this window; the control is also evaluated at its end. */
export const LAG_WINDOW_MS = 1000;
/** The pool's waiters are sampled this often and averaged over this many samples (a quarter second). */
export const POOL_SAMPLE_MS = 50;
export const POOL_SAMPLES = 5;

/** The histogram's own sampling interval, which every sample includes. */
const LAG_RESOLUTION_MS = 10;

/**
 * The event loop's p99 lag over the last window (perf_hooks), read in O(1). A window of 1 s holds
 * about 100 samples when the loop is idle, so one long pause (a major GC) alone does not raise the
 * p99; a loop that keeps lagging does.
 */
export class EventLoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private recent = 0;
  private timer: NodeJS.Timeout | undefined;

  /** Samples every windowMs, then calls onWindow (the control's evaluation). */
  start(windowMs: number, onWindow: () => void): void {
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.recent = this.histogram.count > 0 ? Math.max(0, this.histogram.percentile(99) / 1e6 - LAG_RESOLUTION_MS) : 0;
      this.histogram.reset();
      onWindow();
    }, windowMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  /** p99 lag of the last complete window, ms. */
  recentMs(): number {
    return this.recent;
  }
}

/**
 * The median of the values recorded in the last complete window (the dial delays of new calls),
 * read in O(1); the window is closed by roll() (the lag sampler's timer). A window with fewer than
 * `minSamples` values gives 0: a few calls say little, and a signal that needs calls to be measured
 * must clear when none come (as while they are refused). The median, not a high percentile: the
 * calls caught in one pause (a full GC) are a minority of a second's, a queue that stands slows
 * most of them. At most `capacity` values a window are kept, a uniform sample of them (reservoir).
 */
export class MedianOverWindow {
  private readonly values: Float64Array;
  private seen = 0;
  private last = 0;

  constructor(private readonly minSamples: number, capacity = 4096, private readonly random: () => number = Math.random) {
    this.values = new Float64Array(Math.max(1, capacity));
  }

  record(value: number): void {
    if (!Number.isFinite(value)) return;
    const i = this.seen < this.values.length ? this.seen : Math.floor(this.random() * (this.seen + 1));
    this.seen++;
    if (i < this.values.length) this.values[i] = value;
  }

  /** Closes the window: its median becomes value(), and a new window starts empty. */
  roll(): void {
    const n = Math.min(this.seen, this.values.length);
    this.seen = 0;
    if (n < Math.max(1, this.minSamples)) { this.last = 0; return; }
    const sorted = this.values.subarray(0, n).sort();
    this.last = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  }

  /** The median of the last complete window, or 0 when it had fewer than minSamples values. */
  value(): number {
    return this.last;
  }
}

/** The dial delays of a window needed before their median is a signal. */
export const DIAL_DELAY_MIN_SAMPLES = 20;

/**
 * The mean of a level sampled every tickMs over the last `ticks` samples, read in O(1). For the
 * pool's waiters: a burst of statements queues for a few milliseconds and is gone (one sample at
 * most), a pool that cannot keep up keeps its queue through the whole window.
 */
export class MeanOverWindow {
  private readonly samples: number[];
  private next = 0;
  private sum = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly read: () => number, ticks: number) {
    this.samples = new Array<number>(Math.max(1, ticks)).fill(0);
  }

  /** Takes one sample; the timer calls it, tests too. */
  sample(): void {
    const v = this.read();
    this.sum += v - this.samples[this.next]!;
    this.samples[this.next] = v;
    this.next = (this.next + 1) % this.samples.length;
  }

  start(tickMs: number): void {
    this.timer = setInterval(() => this.sample(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  value(): number {
    return this.sum / this.samples.length;
  }
}

/** Sequelize's pool (sequelize-pool) counts its pending acquires; with read replication there are two pools. */
export function poolWaitersOf(sequelize: unknown): () => number {
  type Pool = { waiting?: number };
  const manager = (sequelize as { connectionManager?: { pool?: Pool & { read?: Pool; write?: Pool } } }).connectionManager;
  return () => {
    const pool = manager?.pool;
    if (!pool) return 0;
    if (typeof pool.waiting === 'number') return pool.waiting;
    return (pool.read?.waiting ?? 0) + (pool.write?.waiting ?? 0);
  };
}
