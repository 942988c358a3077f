import { DAY_MS, isoWeekday, type TimeZone } from './time-zone';

/** Maps local dates to day types: the holiday calendar first, then the weekday. */
export class DayCalendar {
  constructor(
    /** Index 1..7 (ISO weekday) → day type id. */
    private readonly byWeekday: ReadonlyArray<number | null>,
    /** Day number (days since 1970-01-01) → day type id. */
    private readonly holidays: ReadonlyMap<number, number>,
  ) {}

  dayTypeOf(day: number): number | null {
    const h = this.holidays.get(day);
    if (h !== undefined) return h;
    return this.byWeekday[isoWeekday(day)] ?? null;
  }
}

/**
 * The local view of one instant, computed lazily per zone. The engine keeps one and re-aims it,
 * so a look-up allocates nothing.
 */
export class LocalClock {
  ms = 0;
  private zone: TimeZone | null = null;
  /** Local day number. */
  day = 0;
  /** Milliseconds since local midnight. */
  msOfDay = 0;
  private dayTypeCached = false;
  private dayTypeValue: number | null = null;

  constructor(private readonly calendar: DayCalendar) {}

  aim(ms: number): void {
    this.ms = ms;
    this.zone = null;
  }

  in(zone: TimeZone): this {
    if (zone !== this.zone) {
      this.zone = zone;
      const local = this.ms + zone.offsetAt(this.ms);
      this.day = Math.floor(local / DAY_MS);
      this.msOfDay = local - this.day * DAY_MS;
      this.dayTypeCached = false;
    }
    return this;
  }

  dayType(): number | null {
    if (!this.dayTypeCached) {
      this.dayTypeValue = this.calendar.dayTypeOf(this.day);
      this.dayTypeCached = true;
    }
    return this.dayTypeValue;
  }
}
