import { strict as assert } from 'node:assert';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import { DialQueue, EventLoopLag, MeanOverWindow, MedianOverWindow, nextOverloadState, nextRefusedShare, DIAL_QUEUE_WINDOWS_TO_START, REFUSED_SHARE_MAX, OverloadControl, poolWaitersOf, type OverloadSettings, type OverloadSignals, type OverloadState } from '../../../app/admission/overload';
import { captureLogs } from '../../support/log-capture';

const SETTINGS: OverloadSettings = {
  enabled: true, maxCallsInSetup: 10, maxEventLoopLagMs: 200, maxPoolWaiters: 50, maxDialQueueMs: 40, dialFloorSeconds: 10, clearRatio: 0.5, minOverloadSeconds: 2, retryAfterSeconds: 7,
};
const CALM: OverloadSignals = { callsInSetup: 0, eventLoopLagMs: 0, poolWaiters: 0, dialQueueMs: 0 };
const IDLE: OverloadState = { overloaded: false, since: 0, cause: undefined };
const OVER_SINCE_1000: OverloadState = { overloaded: true, since: 1000, cause: 'eventLoopLagMs' };

describe('overload decision', () => {
  const table: Array<{ name: string; from: OverloadState; signals: Partial<OverloadSignals>; now: number; settings?: Partial<OverloadSettings>; overloaded: boolean; cause?: string }> = [
    { name: 'calm stays admitting', from: IDLE, signals: {}, now: 1000, overloaded: false },
    { name: 'calls in set-up one below the bound admit', from: IDLE, signals: { callsInSetup: 9 }, now: 1000, overloaded: false },
    { name: 'calls in set-up at the bound start an overload', from: IDLE, signals: { callsInSetup: 10 }, now: 1000, overloaded: true, cause: 'callsInSetup' },
    { name: 'lag at the bound admits', from: IDLE, signals: { eventLoopLagMs: 200 }, now: 1000, overloaded: false },
    { name: 'lag above the bound starts an overload', from: IDLE, signals: { eventLoopLagMs: 201 }, now: 1000, overloaded: true, cause: 'eventLoopLagMs' },
    { name: 'pool waiters above the bound start an overload', from: IDLE, signals: { poolWaiters: 51 }, now: 1000, overloaded: true, cause: 'poolWaiters' },
    { name: 'the dial queue, however long, refuses a share, not every call', from: IDLE, signals: { dialQueueMs: 1e6 }, now: 1000, overloaded: false },
    { name: 'the dial queue does not hold an overload of every call', from: OVER_SINCE_1000, signals: { dialQueueMs: 1e6 }, now: 60_000, overloaded: false },
    { name: 'disabled never overloads', from: IDLE, signals: { callsInSetup: 1e6, eventLoopLagMs: 1e6, poolWaiters: 1e6, dialQueueMs: 1e6 }, now: 1000, settings: { enabled: false }, overloaded: false },
    { name: 'disabled while overloaded ends it', from: OVER_SINCE_1000, signals: { eventLoopLagMs: 1e6 }, now: 1001, settings: { enabled: false }, overloaded: false },
    { name: 'calm before the minimum time stays overloaded', from: OVER_SINCE_1000, signals: {}, now: 2999, overloaded: true, cause: 'eventLoopLagMs' },
    { name: 'calm after the minimum time ends it', from: OVER_SINCE_1000, signals: {}, now: 3000, overloaded: false },
    { name: 'lag below the bound but above the clearing level stays overloaded', from: OVER_SINCE_1000, signals: { eventLoopLagMs: 150 }, now: 60_000, overloaded: true, cause: 'eventLoopLagMs' },
    { name: 'lag at the clearing level ends it', from: OVER_SINCE_1000, signals: { eventLoopLagMs: 100 }, now: 60_000, overloaded: false },
    { name: 'another signal above its clearing level keeps it', from: OVER_SINCE_1000, signals: { poolWaiters: 26 }, now: 60_000, overloaded: true, cause: 'eventLoopLagMs' },
    { name: 'calls in set-up at the clearing level end it', from: { overloaded: true, since: 0, cause: 'callsInSetup' }, signals: { callsInSetup: 5 }, now: 60_000, overloaded: false },
    { name: 'calls in set-up above the clearing level keep it', from: { overloaded: true, since: 0, cause: 'callsInSetup' }, signals: { callsInSetup: 6 }, now: 60_000, overloaded: true, cause: 'callsInSetup' },
    { name: 'no minimum time: calm ends it at once', from: OVER_SINCE_1000, signals: {}, now: 1000, settings: { minOverloadSeconds: 0 }, overloaded: false },
  ];
  for (const t of table) {
    it(t.name, () => {
      const next = nextOverloadState(t.from, { ...CALM, ...t.signals }, { ...SETTINGS, ...t.settings }, t.now);
      assert.equal(next.overloaded, t.overloaded);
      assert.equal(next.cause, t.cause);
    });
  }

  it('an overload that goes on keeps the time it started (the minimum time counts from its start)', () => {
    const next = nextOverloadState(OVER_SINCE_1000, { ...CALM, eventLoopLagMs: 500 }, SETTINGS, 50_000);
    assert.equal(next.since, 1000);
  });
});

describe('overload control', () => {
  function rig(settings: Partial<OverloadSettings> = {}) {
    const clock = { now: 0 };
    const lag = { ms: 0 };
    const waiters = { n: 0 };
    const logs = captureLogs('info');
    const refusedFor: string[] = [];
    const control = new OverloadControl({ ...SETTINGS, ...settings }, { eventLoopLagMs: () => lag.ms, poolWaiters: () => waiters.n },
      logs.logger, () => clock.now, (cause) => refusedFor.push(cause), 3);
    const observer = control.observer();
    const ended = (callId: string) => observer.ended!({ callId } as CdrRecord, 'caller_bye');
    /** A window of a second in which five calls dialled after `ms`, then its end. */
    const windowOf = (ms: number) => {
      for (let i = 0; i < 5; i++) observer.dialled!('x', ms);
      clock.now += 1000;
      control.windowClosed();
    };
    return { clock, lag, waiters, logs, control, observer, ended, refusedFor, windowOf };
  }

  it('admits up to the bound of calls in set-up, refuses the next with its Retry-After, and admits again once calls are answered or end', () => {
    const r = rig({ maxCallsInSetup: 3, minOverloadSeconds: 0 });
    for (const id of ['a', 'b', 'c']) assert.equal(r.control.admit(id), undefined, id);
    assert.deepEqual(r.control.admit('d'), { retryAfterSeconds: 7, cause: 'callsInSetup' });
    assert.equal(r.control.status().signals.callsInSetup, 3, 'the refused call is not in set-up');
    r.observer.answered!('a');
    assert.ok(r.control.admit('e'), 'hysteresis: 2 in set-up is above the clearing level 1.5');
    r.ended('b');
    assert.equal(r.control.admit('f'), undefined, 'one in set-up: overload over');
    assert.deepEqual(r.control.status(), { overloaded: false, refusedShare: 0, signals: { callsInSetup: 2, eventLoopLagMs: 0, poolWaiters: 0, dialQueueMs: 0 }, refused: 2 });
    assert.deepEqual(r.refusedFor, ['callsInSetup', 'callsInSetup']);
  });

  it('a call ended twice (answered, then its CDR) leaves the count exact', () => {
    const r = rig();
    r.control.admit('a');
    r.observer.answered!('a');
    r.ended('a');
    r.ended('never-admitted');
    assert.equal(r.control.status().signals.callsInSetup, 0);
  });

  it('logs one line when an overload starts and one when it ends, with the refusals counted, not one per call', () => {
    const r = rig();
    r.lag.ms = 300;
    for (let i = 0; i < 50; i++) assert.ok(r.control.admit(`x${i}`));
    r.clock.now = 1000;
    r.lag.ms = 0;
    r.control.evaluate();
    assert.equal(r.control.status().overloaded, true, 'held for the minimum time');
    r.clock.now = 2500;
    r.control.evaluate();
    r.control.evaluate();
    assert.equal(r.control.status().overloaded, false);
    const lines = r.logs.lines.map((l) => l.message);
    assert.deepEqual(lines, ['overload started: new calls are refused with 503', 'overload ended: new calls are admitted again']);
    const end = r.logs.lines[1]!;
    assert.equal(end.refused, 50);
    assert.equal(end.durationMs, 2500);
    assert.equal(end.cause, 'eventLoopLagMs');
    assert.deepEqual(end.peak, { callsInSetup: 0, eventLoopLagMs: 300, poolWaiters: 0, dialQueueMs: 0 });
  });

  it('pool waiters start an overload; it ends without any new call, at the sampler\'s evaluation', () => {
    const r = rig();
    r.waiters.n = 80;
    assert.deepEqual(r.control.admit('a'), { retryAfterSeconds: 7, cause: 'poolWaiters' });
    r.waiters.n = 10;
    r.clock.now = 2000;
    r.control.evaluate();
    assert.equal(r.control.status().overloaded, false);
    assert.equal(r.control.admit('b'), undefined);
  });

  it('a dial queue over its bound refuses a share of new calls, evenly spread, that rises each window it stays over and halves once below the clearing level', () => {
    const r = rig();
    const { windowOf } = r;
    windowOf(2);
    assert.equal(r.control.status().signals.dialQueueMs, 0, 'the first window sets the floor');
    windowOf(50);
    assert.equal(r.control.status().signals.dialQueueMs, 48, 'the median above the floor');
    assert.equal(r.control.status().refusedShare, 0, 'one window over the bound is not yet a queue that stands');
    windowOf(50);
    assert.equal(r.control.status().refusedShare, 0.1);
    assert.equal(r.control.status().overloaded, true);
    // The admitted calls end at once: no call waits to dial past its window.
    const admitTen = () => Array.from({ length: 10 }, (_, i) => {
      const refusal = r.control.admit(`c${i}`);
      if (!refusal) r.ended(`c${i}`);
      return refusal?.cause ?? 'admitted';
    });
    assert.deepEqual(admitTen(), [...Array(9).fill('admitted'), 'dialQueueMs'], 'one in ten, the tenth');
    windowOf(60);
    assert.equal(r.control.status().refusedShare, 0.2);
    assert.equal(admitTen().filter((c) => c === 'dialQueueMs').length, 2);
    windowOf(30);
    assert.equal(r.control.status().refusedShare, 0.2, 'between the clearing level (20) and the bound (40): held');
    windowOf(12);
    assert.equal(r.control.status().refusedShare, 0.1, 'at or below the clearing level: halved');
    r.clock.now = 5000;
    windowOf(2);
    windowOf(2);
    windowOf(2);
    assert.equal(r.control.status().refusedShare, 0, 'below 0.02 it is none');
    assert.equal(r.control.status().overloaded, false);
    assert.equal(admitTen().filter((c) => c === 'dialQueueMs').length, 0);
    const lines = r.logs.lines.map((l) => l.message);
    assert.deepEqual(lines, ['overload started: a share of new calls is refused with 503', 'overload ended: new calls are admitted again']);
    const end = r.logs.lines[1]!;
    assert.equal(end.cause, 'dialQueueMs');
    assert.equal(end.refused, 3);
    assert.equal(end.peakShare, 0.2);
    assert.equal(end.peakDialQueueMs, 58);
    assert.equal(end.durationMs, 5000);
    assert.deepEqual(r.refusedFor, ['dialQueueMs', 'dialQueueMs', 'dialQueueMs']);
  });

  it('the share never reaches every call, and a window without enough calls to tell lowers it', () => {
    const r = rig({ dialFloorSeconds: 100 });
    r.windowOf(1);
    for (let w = 0; w < 20; w++) r.windowOf(500);
    assert.equal(r.control.status().refusedShare, REFUSED_SHARE_MAX);
    r.control.windowClosed();
    assert.equal(r.control.status().refusedShare, REFUSED_SHARE_MAX / 2, 'no median: the dial queue reads 0');
  });

  it('calls admitted and still waiting to dial count at their wait so far: a queue that lets too few calls through still reads', () => {
    const r = rig();
    r.windowOf(2);
    r.windowOf(2);
    for (const id of ['a', 'b', 'c', 'd']) assert.equal(r.control.admit(id), undefined);
    r.clock.now += 300;
    r.observer.dialled!('a', 300);
    r.ended('b');
    r.control.windowClosed();
    assert.equal(r.control.status().signals.dialQueueMs, 298, 'a dialled after 300 ms, c and d waiting 300 ms; b ended and is not counted');
    r.observer.dialled!('c', 500);
    r.observer.answered!('d');
    r.control.windowClosed();
    assert.equal(r.control.status().signals.dialQueueMs, 0, 'one dialled call is below the minimum; d, answered, waits no more');
  });

  it('every call refused (a bound of the other signals) reads a share of 1, and the dial queue\'s share comes after it', () => {
    const r = rig({ maxCallsInSetup: 1, minOverloadSeconds: 0 });
    assert.equal(r.control.admit('a'), undefined);
    assert.equal(r.control.admit('b')?.cause, 'callsInSetup');
    assert.equal(r.control.status().refusedShare, 1);
  });

  it('disabled, it never refuses but still counts calls in set-up for the metrics', () => {
    const r = rig({ enabled: false, maxCallsInSetup: 1 });
    r.lag.ms = 10_000;
    for (const id of ['a', 'b', 'c']) assert.equal(r.control.admit(id), undefined);
    assert.equal(r.control.status().signals.callsInSetup, 3);
    assert.deepEqual(r.logs.lines, []);
  });
});

describe('mean of a level over a window', () => {
  it('a burst seen by one sample moves the mean by its share; a level kept through the window is the mean', () => {
    let level = 0;
    const mean = new MeanOverWindow(() => level, 10);
    for (let i = 0; i < 9; i++) mean.sample();
    level = 300;
    mean.sample();
    assert.equal(mean.value(), 30);
    level = 150;
    for (let i = 0; i < 10; i++) mean.sample();
    assert.equal(mean.value(), 150);
    level = 0;
    for (let i = 0; i < 10; i++) mean.sample();
    assert.equal(mean.value(), 0);
  });
});

describe('median of the values of a window', () => {
  it('gives the median of the last closed window, and 0 for a window with fewer values than its minimum', () => {
    const median = new MedianOverWindow(3);
    assert.equal(median.value(), 0, 'no window closed yet');
    for (const v of [9, 1, 200, 4, 5]) median.record(v);
    assert.equal(median.value(), 0, 'still open');
    median.roll();
    assert.equal(median.value(), 5, 'one value in five slow does not move the median');
    for (const v of [10, 30, 20, 40]) median.record(v);
    median.roll();
    assert.equal(median.value(), 25, 'an even count: the mean of the middle two');
    median.record(100);
    median.record(100);
    median.roll();
    assert.equal(median.value(), 0, 'two values are below the minimum of three');
    median.record(Number.NaN);
    median.record(1);
    median.record(2);
    median.roll();
    assert.equal(median.value(), 0, 'a value that is not a number is not recorded');
  });

  it('past its capacity it keeps a uniform sample of the window, whose median follows the whole window', () => {
    let seed = 7;
    const random = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };
    const median = new MedianOverWindow(1, 100, random);
    // 10,000 values: the first half 1 ms, the second half 100 ms. A sample of the first 100 alone would read 1.
    for (let i = 0; i < 10_000; i++) median.record(i < 4_000 ? 1 : 100);
    median.roll();
    assert.equal(median.value(), 100);
    for (let i = 0; i < 10_000; i++) median.record(i < 6_000 ? 1 : 100);
    median.roll();
    assert.equal(median.value(), 1);
  });
});

describe('share of new calls refused for the dial queue', () => {
  const table: Array<{ share: number; queueMs: number; over?: number; settings?: Partial<OverloadSettings>; next: number }> = [
    { share: 0, queueMs: 40, next: 0 },
    { share: 0, queueMs: 41, over: 1, next: 0 },
    { share: 0, queueMs: 41, next: 0.1 },
    { share: 0.3, queueMs: 41, next: 0.4 },
    { share: 0.3, queueMs: 41, over: 1, next: 0.4 },
    { share: 0.9, queueMs: 1e6, next: 0.9 },
    { share: 0.4, queueMs: 21, next: 0.4 },
    { share: 0.4, queueMs: 20, next: 0.2 },
    { share: 0.03, queueMs: 0, next: 0 },
    { share: 0.5, queueMs: 1e6, settings: { maxDialQueueMs: 0 }, next: 0 },
    { share: 0.5, queueMs: 1e6, settings: { enabled: false }, next: 0 },
  ];
  for (const t of table) {
    const over = t.over ?? DIAL_QUEUE_WINDOWS_TO_START;
    it(`share ${t.share}, dial queue ${t.queueMs} ms over ${over} window(s)${t.settings ? ` (${JSON.stringify(t.settings)})` : ''}: ${t.next}`, () => {
      assert.equal(nextRefusedShare(t.share, t.queueMs, over, { ...SETTINGS, ...t.settings }), t.next);
    });
  }
});

describe('dial queue', () => {
  it('is the median of the last window above the lowest median of the last ten minutes, read once a minute has been watched; a window with too few calls reads 0 and leaves the floor', () => {
    const clock = { now: 0 };
    const q = new DialQueue(() => clock.now, 3, 600);
    const windowOf = (...ms: number[]) => { for (const v of ms) q.record(v); q.roll(); return q.value(); };
    assert.equal(windowOf(10, 11, 12), 0, 'the first median is the floor');
    clock.now = 30_000;
    assert.equal(windowOf(30, 31, 32), 0, 'not read before a tenth of the floor\'s span (60 s) has been watched');
    clock.now = 60_000;
    assert.equal(windowOf(30, 31, 32), 20);
    assert.equal(windowOf(1, 2), 0, 'too few calls');
    assert.deepEqual(q.figures(), { medianMs: 0, floorMs: 11 });
    clock.now = 90_000;
    assert.equal(windowOf(5, 6, 7), 0, 'a lower median lowers the floor');
    assert.equal(windowOf(10, 10, 10), 4);
    // Each minute keeps its lowest median; after ten more minutes the 6 ms one is gone.
    for (let m = 1; m <= 10; m++) { clock.now = 90_000 + m * 60_000; windowOf(20, 20, 20); }
    assert.equal(q.figures().floorMs, 20);
    assert.equal(windowOf(50, 50, 50), 30);
  });
});

describe('pool waiters of Sequelize', () => {
  it('reads the pool\'s pending acquires, both pools with read replication, and 0 without a pool (SQLite)', () => {
    assert.equal(poolWaitersOf({ connectionManager: { pool: { waiting: 4 } } })(), 4);
    assert.equal(poolWaitersOf({ connectionManager: { pool: { read: { waiting: 2 }, write: { waiting: 3 } } } })(), 5);
    assert.equal(poolWaitersOf({ connectionManager: {} })(), 0);
  });
});

describe('event-loop lag of the last window', () => {
  it('a loop blocked for 300 ms reads a lag of 250 ms or more in a window that follows', async () => {
    const lag = new EventLoopLag();
    const seen: number[] = [];
    lag.start(100, () => seen.push(lag.recentMs()));
    try {
      await new Promise((r) => setTimeout(r, 30));
      const t0 = Date.now();
      while (Date.now() - t0 < 300) { /* the event loop is busy */ }
      const until = Date.now() + 5000;
      while (!seen.some((ms) => ms >= 250) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.ok(seen.some((ms) => ms >= 250), `windows read ${seen.join(', ')} ms`);
    } finally {
      lag.stop();
    }
  });
});
