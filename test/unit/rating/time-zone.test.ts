import assert from 'node:assert/strict';
import { TimeZone, isoWeekday, parseLocalDate, parseTimeOfDay } from '../../../lib/rating/time-zone';

describe('rating: local time in a tariff time zone', () => {
  const cases: Array<[string, string, number]> = [
    ['Europe/Berlin', '2026-01-15T12:00:00Z', 60],
    ['Europe/Berlin', '2026-07-15T12:00:00Z', 120],
    ['Europe/Berlin', '2026-03-29T00:59:59Z', 60],
    ['Europe/Berlin', '2026-03-29T01:00:00Z', 120],
    ['Europe/Berlin', '2026-10-25T00:59:59Z', 120],
    ['Europe/Berlin', '2026-10-25T01:00:00Z', 60],
    ['America/New_York', '2026-11-01T05:59:59Z', -240],
    ['America/New_York', '2026-11-01T06:00:00Z', -300],
    ['Asia/Kolkata', '2026-05-01T00:00:00Z', 330],
    ['Australia/Lord_Howe', '2026-04-04T14:59:59Z', 660],
    ['Australia/Lord_Howe', '2026-04-04T15:00:00Z', 630],
    ['UTC', '2026-07-15T12:00:00Z', 0],
  ];
  for (const [zone, at, minutes] of cases) {
    it(`${zone} is UTC${minutes >= 0 ? '+' : ''}${minutes / 60} h at ${at}`, () => {
      assert.equal(new TimeZone(zone).offsetAt(Date.parse(at)) / 60_000, minutes);
    });
  }

  it('an offset span ends at the transition', () => {
    const span = new TimeZone('Europe/Berlin').offsetSpan(Date.parse('2026-03-29T00:30:00Z'));
    assert.deepEqual(span, { offset: 3_600_000, until: Date.parse('2026-03-29T01:00:00Z') });
  });

  it('reads dates, weekdays and times of day', () => {
    assert.equal(isoWeekday(parseLocalDate('2026-11-23')!), 1);
    assert.equal(isoWeekday(parseLocalDate('2026-11-29')!), 7);
    assert.equal(parseLocalDate('2026-02-29'), null);
    assert.equal(parseTimeOfDay('24:00'), 86_400_000);
    assert.equal(parseTimeOfDay('08:30:15'), (8 * 3600 + 30 * 60 + 15) * 1000);
    assert.equal(parseTimeOfDay('24:01'), null);
  });
});
