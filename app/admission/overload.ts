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
 * the event-loop lag over the last second and the database pool's waiters averaged over the last
 * quarter second (sampled by timers, not per INVITE). Each has a bound at which every new call is
 * refused. The decision per INVITE is O(1). Hysteresis: that overload starts when one signal
 * reaches its bound and ends only when every signal is back at or below `clearRatio` of its
 * bound, and not before it lasted `minOverloadSeconds`, so it does not flap.
 *
 * Before any of those: the dial queue, what the median new call of the last second waited in the
 * product (its dial delay, from the INVITE's arrival to its outbound INVITE's going out, whichever
 * process or the database it waited in) above the floor of that median over the last ten minutes
 * (what a call takes with no queue: a remote database's round trips, say). While it is above its
 * bound a share of new calls is refused, evenly spread, raised each second it stays above and
 * halved each second it is back below the clearing level: the refusals follow the excess of calls
 * over what the machine sets up in time, and the calls admitted keep their set-up short.
 */

export interface OverloadSettings {
  enabled: boolean;
  /** New calls are refused while this many calls are in set-up (INVITE received, not yet answered or ended). */
  maxCallsInSetup: number;
  /** … or while the event loop's p99 lag over the last window is above this. */
  maxEventLoopLagMs: number;
  /** … or while more than this many queries wait for a pooled database connection (mean over the last quarter second). */
  maxPoolWaiters: number;
  /** A share of new calls is refused while the dial queue (median dial delay of the last window above its floor) is above this; 0: never. */
  maxDialQueueMs: number;
  /** The floor is the lowest median of this long; it is trusted (the dial queue reads) once a tenth of it has been watched. */
  dialFloorSeconds: number;
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
  /** The median dial delay of the last window above its floor (0 without enough calls to tell). */
  dialQueueMs: number;
}

export type OverloadSignal = keyof OverloadSignals;

/** What the control reads besides its own count of calls in set-up. */
export interface OverloadSources {
  eventLoopLagMs(): number;
  poolWaiters(): number;
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
  /** Every new call is refused, or a share of them. */
  overloaded: boolean;
  /** The share of new calls refused for the dial queue (0 to REFUSED_SHARE_MAX); 1 while every one is. */
  refusedShare: number;
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
  return undefined;
}

function allCleared(signals: OverloadSignals, s: OverloadSettings): boolean {
  return signals.callsInSetup <= s.maxCallsInSetup * s.clearRatio
    && signals.eventLoopLagMs <= s.maxEventLoopLagMs * s.clearRatio
    && signals.poolWaiters <= s.maxPoolWaiters * s.clearRatio;
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

/** The dial queue's share: raised by this each window over the bound, up to the most. */
export const REFUSED_SHARE_STEP = 0.1;
/** Some calls are always admitted while only the dial queue refuses: they are what measures it. */
export const REFUSED_SHARE_MAX = 0.9;
/** Halved below the clearing level; below this it is 0. */
const REFUSED_SHARE_MIN = 0.02;

/**
 * Refusals for the dial queue start once it has been over its bound this many windows in a row: a
 * queue that stands, not one second's hiccup (a full GC on a busy machine, code still warming up).
 */
export const DIAL_QUEUE_WINDOWS_TO_START = 2;

/**
 * The share of new calls to refuse for the next window, from this window's, the dial queue and
 * how many windows in a row (this one included) it has been over its bound. Pure.
 */
export function nextRefusedShare(share: number, dialQueueMs: number, windowsOver: number, s: OverloadSettings): number {
  if (!s.enabled || s.maxDialQueueMs <= 0) return 0;
  if (dialQueueMs > s.maxDialQueueMs) {
    if (share === 0 && windowsOver < DIAL_QUEUE_WINDOWS_TO_START) return 0;
    return Math.min(REFUSED_SHARE_MAX, Math.round((share + REFUSED_SHARE_STEP) * 1000) / 1000);
  }
  if (dialQueueMs <= s.maxDialQueueMs * s.clearRatio) return share / 2 < REFUSED_SHARE_MIN ? 0 : share / 2;
  return share;
}

type Clock = () => number;

export class OverloadControl implements NewCallGate {
  private readonly inSetup = new Set<string>();
  private state: OverloadState = { overloaded: false, since: 0, cause: undefined };
  private refusedTotal = 0;
  /** Of the current overload, for its end line. */
  private episode = { refused: 0, peak: noSignals() };
  /** The share of new calls refused for the dial queue, and the refusals it owes (one at each whole). */
  private share = 0;
  private owed = 0;
  /** Windows in a row the dial queue has been over its bound. */
  private windowsOver = 0;
  private readonly dial: DialQueue;
  /** Admitted calls whose outbound INVITE has not gone out yet, and since when (clock ms). */
  private readonly awaitingDial = new Map<string, number>();
  private shedding = { since: 0, refused: 0, peakShare: 0, peakQueueMs: 0 };

  constructor(
    private readonly settings: OverloadSettings,
    private readonly sources: OverloadSources,
    private readonly logger: Logger,
    private readonly clock: Clock = () => performance.now(),
    private readonly onRefused: (cause: OverloadSignal) => void = () => undefined,
    dialMinSamples = DIAL_DELAY_MIN_SAMPLES,
  ) {
    this.dial = new DialQueue(clock, dialMinSamples, settings.dialFloorSeconds);
  }

  admit(callId: string): OverloadRefusal | undefined {
    this.evaluate();
    const { cause } = this.state;
    if (this.state.overloaded && cause) {
      this.episode.refused++;
      return this.refused(cause);
    }
    if (this.share > 0) {
      this.owed += this.share;
      // 0.1 added ten times is just under 1 in binary floating point.
      if (this.owed >= 1 - 1e-9) {
        this.owed -= 1;
        this.shedding.refused++;
        return this.refused('dialQueueMs');
      }
    }
    this.inSetup.add(callId);
    this.awaitingDial.set(callId, this.clock());
    return undefined;
  }

  private refused(cause: OverloadSignal): OverloadRefusal {
    this.refusedTotal++;
    this.onRefused(cause);
    return { retryAfterSeconds: this.settings.retryAfterSeconds, cause };
  }

  /**
   * At the end of each window (the lag sampler's timer, each second): the dial queue's window
   * closes, with the calls still waiting to dial counted at their wait so far, and the share of
   * new calls refused for it moves on.
   */
  windowClosed(): void {
    this.dial.roll(this.awaitingDial.values());
    const queueMs = this.dial.value();
    this.windowsOver = queueMs > this.settings.maxDialQueueMs ? this.windowsOver + 1 : 0;
    const next = nextRefusedShare(this.share, queueMs, this.windowsOver, this.settings);
    const now = this.clock();
    if (next > 0) {
      if (this.share === 0) {
        this.shedding = { since: now, refused: 0, peakShare: 0, peakQueueMs: 0 };
        const { medianMs, floorMs } = this.dial.figures();
        this.logger.warn('overload started: a share of new calls is refused with 503', {
          cause: 'dialQueueMs', share: next, ...rounded(this.signals()), dialDelayMedianMs: Math.round(medianMs * 10) / 10, dialDelayFloorMs: Math.round(floorMs * 10) / 10,
          maxDialQueueMs: this.settings.maxDialQueueMs,
        });
      }
      this.shedding.peakShare = Math.max(this.shedding.peakShare, next);
      this.shedding.peakQueueMs = Math.max(this.shedding.peakQueueMs, queueMs);
    } else if (this.share > 0) {
      this.logger.info('overload ended: new calls are admitted again', {
        cause: 'dialQueueMs', durationMs: Math.round(now - this.shedding.since), refused: this.shedding.refused,
        peakShare: this.shedding.peakShare, peakDialQueueMs: Math.round(this.shedding.peakQueueMs * 10) / 10, ...rounded(this.signals()),
      });
      this.owed = 0;
    }
    this.share = next;
    this.evaluate();
  }

  /** Calls leave set-up when answered or ended (an admitted call always ends in one of them). */
  observer(): CallObserver {
    return {
      dialled: (callId: string, delayMs: number) => {
        this.awaitingDial.delete(callId);
        this.dial.record(delayMs);
      },
      answered: (callId: string) => {
        this.inSetup.delete(callId);
        this.awaitingDial.delete(callId);
      },
      ended: (cdr) => {
        this.inSetup.delete(cdr.callId);
        this.awaitingDial.delete(cdr.callId);
      },
    };
  }

  signals(): OverloadSignals {
    return {
      callsInSetup: this.inSetup.size, eventLoopLagMs: this.sources.eventLoopLagMs(), poolWaiters: this.sources.poolWaiters(), dialQueueMs: this.dial.value(),
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
    return {
      overloaded: this.state.overloaded || this.share > 0, refusedShare: this.state.overloaded ? 1 : this.share, signals: this.signals(), refused: this.refusedTotal,
    };
  }

  private bounds() {
    const s = this.settings;
    return { maxCallsInSetup: s.maxCallsInSetup, maxEventLoopLagMs: s.maxEventLoopLagMs, maxPoolWaiters: s.maxPoolWaiters };
  }
}

function noSignals(): OverloadSignals {
  return { callsInSetup: 0, eventLoopLagMs: 0, poolWaiters: 0, dialQueueMs: 0 };
}

/** Signals as logged: the lag, the mean waiters and the dial queue to a tenth. */
function rounded(s: OverloadSignals): OverloadSignals {
  const tenth = (v: number) => Math.round(v * 10) / 10;
  return { callsInSetup: s.callsInSetup, eventLoopLagMs: tenth(s.eventLoopLagMs), poolWaiters: tenth(s.poolWaiters), dialQueueMs: tenth(s.dialQueueMs) };
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
/** The floor's span is kept as this many slices, one minimum each (the last, and the ones before it). */
const DIAL_FLOOR_SLICES = 10;

/**
 * The dial queue: the median dial delay of the last window above its floor, the lowest such
 * median of the last `floorSeconds` (kept as one minimum a tenth of that, as LEDBAT keeps its base
 * delay, RFC 6817). The floor is what a call takes with no queue on this deployment (its
 * database's round trips, its machine's speed), so the bound is on the waiting alone. It is not
 * known before calls have been watched a while: the dial queue reads 0 until a tenth of
 * `floorSeconds` has passed since the first median (a burst of calls at start-up, all waiting for
 * the same account, would otherwise be its own floor and queue). A window with too few calls gives
 * no median: the dial queue reads 0 and the floor is left as it was.
 */
export class DialQueue {
  private readonly window: MedianOverWindow;
  private readonly minima: number[] = [];
  private sliceStartedAt: number | undefined;
  private firstMedianAt: number | undefined;
  private readonly sliceMs: number;
  private median = 0;
  private queue = 0;

  constructor(private readonly clock: Clock, minSamples: number, floorSeconds: number) {
    this.window = new MedianOverWindow(minSamples);
    this.sliceMs = (floorSeconds * 1000) / DIAL_FLOOR_SLICES;
  }

  record(delayMs: number): void {
    this.window.record(delayMs);
  }

  /**
   * Closes the window (each second). `waitingSince`: when each admitted call still waiting for its
   * outbound INVITE arrived; how long each has waited so far counts as a dial delay of the window
   * (it will be at least that). Without them a queue so long that fewer than the minimum of calls
   * get through in a window would read as none.
   */
  roll(waitingSince: Iterable<number> = []): void {
    const now = this.clock();
    for (const t of waitingSince) this.window.record(now - t);
    this.window.roll();
    const m = this.window.value();
    this.median = m;
    if (m <= 0) { this.queue = 0; return; }
    this.firstMedianAt ??= now;
    if (this.sliceStartedAt === undefined || now - this.sliceStartedAt >= this.sliceMs) {
      this.minima.push(m);
      if (this.minima.length > DIAL_FLOOR_SLICES) this.minima.shift();
      this.sliceStartedAt = now;
    } else {
      this.minima[this.minima.length - 1] = Math.min(this.minima[this.minima.length - 1]!, m);
    }
    this.queue = now - this.firstMedianAt >= this.sliceMs ? Math.max(0, m - Math.min(...this.minima)) : 0;
  }

  /** The dial queue of the last window, ms. */
  value(): number {
    return this.queue;
  }

  /** The median dial delay of the last window (0 with too few calls) and the floor, ms. */
  figures(): { medianMs: number; floorMs: number } {
    return { medianMs: this.median, floorMs: this.minima.length > 0 ? Math.min(...this.minima) : 0 };
  }
}

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
