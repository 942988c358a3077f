import assert from 'node:assert/strict';
import { stackTime } from '../../../../lib/edge/control/app-bridge';

describe("the leaders' time stamp (drachtio-server's HH:MM:SS.mmm000, UTC)", () => {
  it('is written for each millisecond, the same within one, and follows the clock', () => {
    const t = Date.UTC(2026, 11, 2, 7, 5, 9, 42);
    assert.equal(stackTime(t), '07:05:09.042000');
    assert.equal(stackTime(t), '07:05:09.042000');
    assert.equal(stackTime(t + 1), '07:05:09.043000');
    assert.equal(stackTime(t), '07:05:09.042000');
    assert.equal(stackTime(Date.UTC(2026, 11, 2, 23, 59, 59, 999)), '23:59:59.999000');
    assert.equal(stackTime(Date.UTC(2026, 11, 3, 0, 0, 0, 0)), '00:00:00.000000');
    assert.match(stackTime(), /^\d\d:\d\d:\d\d\.\d{3}000$/);
  });
});
