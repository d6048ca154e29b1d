import { describe, expect, it } from 'vitest';
import { isoTime, isoTimeOrNull } from '../../src/protocol/iso-time.js';

describe('isoTime', () => {
  it('writes what toISOString writes, across days, years and the edges of the fast path', () => {
    const samples = [
      0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000,
      Date.parse('2026-12-07T00:31:21.194Z'), Date.parse('2028-02-29T23:59:59.999Z'), Date.parse('9999-12-31T23:59:59.999Z'),
      Date.UTC(10000, 0, 1), -1, -86_400_001, Date.parse('0001-01-01T00:00:00Z'), 1.5, 1_700_000_000_000.25,
    ];
    // A walk through 60 years in uneven steps, so that every hour, minute, second and millisecond field varies.
    for (let ms = Date.parse('1995-01-01T00:00:00Z'), step = 0; ms < Date.parse('2055-01-01T00:00:00Z'); ms += 37_123_457 + (step++ % 997)) samples.push(ms);
    for (const ms of samples) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('goes back and forth between days without keeping a stale date', () => {
    const monday = Date.parse('2026-12-07T10:00:00.000Z');
    const sunday = Date.parse('2026-12-06T23:59:59.999Z');
    expect([isoTime(monday), isoTime(sunday), isoTime(monday)]).toEqual(['2026-12-07T10:00:00.000Z', '2026-12-06T23:59:59.999Z', '2026-12-07T10:00:00.000Z']);
  });

  it('keeps null as null', () => {
    expect(isoTimeOrNull(null)).toBeNull();
    expect(isoTimeOrNull(0)).toBe('1970-01-01T00:00:00.000Z');
  });
});
