/**
 * Local time in an IANA time zone, with Intl only. Offsets are cached per UTC hour, so a look-up
 * costs a map access; an hour that contains a transition (DST) records the exact instant.
 */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const CACHE_LIMIT = 100_000;

interface HourOffsets {
  /** Offset (ms, local − UTC) from the start of the hour. */
  before: number;
  /** Instant the offset changes within the hour, or Infinity. */
  changeAt: number;
  after: number;
}

export function isValidTimeZone(name: string): boolean {
  if (typeof name !== 'string' || name.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export class TimeZone {
  private readonly format: Intl.DateTimeFormat | null;
  private readonly hours = new Map<number, HourOffsets>();

  constructor(readonly name: string) {
    this.format = name === 'UTC' || name === 'Etc/UTC'
      ? null
      : new Intl.DateTimeFormat('en-US', {
          timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
          hour: 'numeric', minute: 'numeric', second: 'numeric',
        });
  }

  /** Local minus UTC, in milliseconds, at the instant. */
  offsetAt(ms: number): number {
    if (this.format === null) return 0;
    const h = this.hour(ms);
    return ms < h.changeAt ? h.before : h.after;
  }

  /** The offset at the instant and the first later instant at which it may differ. */
  offsetSpan(ms: number): { offset: number; until: number } {
    if (this.format === null) return { offset: 0, until: Infinity };
    const h = this.hour(ms);
    if (ms < h.changeAt) return { offset: h.before, until: Math.min(h.changeAt, hourEnd(ms)) };
    return { offset: h.after, until: hourEnd(ms) };
  }

  private hour(ms: number): HourOffsets {
    const bucket = Math.floor(ms / HOUR_MS);
    let h = this.hours.get(bucket);
    if (h === undefined) {
      if (this.hours.size >= CACHE_LIMIT) this.hours.clear();
      h = this.computeHour(bucket * HOUR_MS);
      this.hours.set(bucket, h);
    }
    return h;
  }

  private computeHour(start: number): HourOffsets {
    const before = this.rawOffset(start);
    const after = this.rawOffset(start + HOUR_MS - 1000);
    if (before === after) return { before, changeAt: Infinity, after };
    // Zones change offset at most once an hour: find the first second with the new offset.
    let lo = 0; // seconds into the hour with offset `before`
    let hi = 3599; // seconds into the hour with offset `after`
    for (let i = 0; i < 13 && hi - lo > 1; i++) {
      const mid = (lo + hi) >> 1;
      if (this.rawOffset(start + mid * 1000) === before) lo = mid; else hi = mid;
    }
    return { before, changeAt: start + hi * 1000, after };
  }

  private rawOffset(ms: number): number {
    const whole = Math.floor(ms / 1000) * 1000;
    const parts = this.format!.formatToParts(new Date(whole));
    const f: Record<string, number> = {};
    for (const p of parts) if (p.type !== 'literal') f[p.type] = Number(p.value);
    const local = Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!);
    return local - whole;
  }
}

function hourEnd(ms: number): number {
  return (Math.floor(ms / HOUR_MS) + 1) * HOUR_MS;
}

/** Days since 1970-01-01 of a 'YYYY-MM-DD' calendar date, or null when it is not a real date. */
export function parseLocalDate(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return ms / DAY_MS;
}

/** ISO weekday (1 = Monday … 7 = Sunday) of a day number. 1970-01-01 was a Thursday. */
export function isoWeekday(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** Milliseconds of the day of 'HH:MM' or 'HH:MM:SS' ('24:00' allowed), or null when malformed. */
export function parseTimeOfDay(text: string): number | null {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]), mi = Number(m[2]), s = Number(m[3] ?? '0');
  if (mi > 59 || s > 59) return null;
  if (h === 24 && mi === 0 && s === 0) return DAY_MS;
  if (h > 23) return null;
  return ((h * 60 + mi) * 60 + s) * 1000;
}

export function formatTimeOfDay(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const hm = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
  return s === 0 ? hm : `${hm}:${String(s).padStart(2, '0')}`;
}
