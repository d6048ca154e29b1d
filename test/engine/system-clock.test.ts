/** The real clock: the only place that reads the host's time and zone. */
import { describe, expect, it } from 'vitest';
import { canonicalTimeZone } from '../../src/core/zoned-time.js';
import { systemClock } from '../../src/engine/system-clock.js';

describe('systemClock', () => {
  it('tells the time of the host', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it('tells the zone the process runs in, one canonicalTimeZone accepts', () => {
    expect(systemClock.timeZone()).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(() => canonicalTimeZone(systemClock.timeZone(), 'timezone')).not.toThrow();
  });

  it('takes a TZ set while the process runs, and the zone before it again once it is unset', () => {
    const before = process.env.TZ;
    const original = systemClock.timeZone();
    const other = original === 'Asia/Tokyo' ? 'America/Lima' : 'Asia/Tokyo';
    try {
      process.env.TZ = other;
      expect(systemClock.timeZone()).toBe(other);
      expect(systemClock.timeZone()).toBe(other);
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
    expect(systemClock.timeZone()).toBe(original);
  });
});
