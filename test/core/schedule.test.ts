import { describe, expect, it } from 'vitest';
import { firstFireAt, nextTickAfter } from '../../src/core/schedule.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const every10s = { intervalMs: 10_000 };

describe('firstFireAt', () => {
  it('is one interval after submission', () => {
    expect(firstFireAt(every10s, T0)).toBe(T0 + 10_000);
    expect(firstFireAt({ intervalMs: 60_000 }, T0 + 7)).toBe(T0 + 60_007);
  });

  it('is the submission time itself for a zero delay', () => {
    expect(firstFireAt({ intervalMs: 0 }, T0)).toBe(T0);
  });
});

describe('nextTickAfter', () => {
  it('is the first tick strictly after the time given', () => {
    expect(nextTickAfter(every10s, T0, T0 + 10_000 + 1)).toBe(T0 + 20_000);
    expect(nextTickAfter(every10s, T0, T0 + 19_999)).toBe(T0 + 20_000);
  });

  it('on an exact tick boundary, is the tick after it (never the same one again)', () => {
    expect(nextTickAfter(every10s, T0, T0 + 10_000)).toBe(T0 + 20_000);
    expect(nextTickAfter(every10s, T0, T0 + 30_000)).toBe(T0 + 40_000);
  });

  it('is never earlier than the first tick, even before or at submission', () => {
    expect(nextTickAfter(every10s, T0, T0)).toBe(T0 + 10_000);
    expect(nextTickAfter(every10s, T0, T0 + 1)).toBe(T0 + 10_000);
    expect(nextTickAfter(every10s, T0, T0 - 25_000)).toBe(T0 + 10_000);
  });

  it('collapses a long downtime into one tick: the next grid point after now', () => {
    const afterDowntime = T0 + 3 * 24 * 3_600_000 + 4_321; // three days and a bit later
    const next = nextTickAfter(every10s, T0, afterDowntime);
    expect(next).toBe(T0 + 3 * 24 * 3_600_000 + 10_000);
    expect(next).toBeGreaterThan(afterDowntime);
    expect(next - afterDowntime).toBeLessThanOrEqual(10_000);
  });

  it('stays on the grid anchored at createdAt, whatever createdAt is', () => {
    const createdAt = T0 + 3_217;
    for (const after of [createdAt + 1, createdAt + 45_678, createdAt + 10_000 * 97 + 9_999]) {
      const next = nextTickAfter(every10s, createdAt, after);
      expect((next - createdAt) % 10_000).toBe(0);
      expect(next).toBeGreaterThan(after);
      expect(next - after).toBeLessThanOrEqual(10_000);
    }
  });
});
