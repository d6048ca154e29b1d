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
});
