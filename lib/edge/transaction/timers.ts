/** RFC 3261 §17 timer values, in milliseconds. T1/T2/T4 are configurable so tests can shrink them. */
export interface TimerConfig { t1: number; t2: number; t4: number; /** Timer C (RFC 3261 §16.6), ms; 180 s when absent. */ timerC?: number }

export const DEFAULT_TIMERS: TimerConfig = { t1: 500, t2: 4000, t4: 5000 };

export function timerB(t: TimerConfig): number { return 64 * t.t1; }  // also F, H, J, L, M
export function timerD(t: TimerConfig, reliable: boolean): number { return reliable ? 0 : Math.max(32000 * t.t1 / 500, 64 * t.t1); }

/** A set of timers owned by one object, cleared together. */
export class TimerSet {
  private timers = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | null): void {
    if (t) { clearTimeout(t); this.timers.delete(t); }
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  get size(): number { return this.timers.size; }
}
