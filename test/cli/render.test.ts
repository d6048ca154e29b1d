import { describe, expect, it } from 'vitest';
import { relativeTime, TableLayout } from '../../src/cli/render.js';

describe('relativeTime', () => {
  const now = Date.parse('2026-11-25T10:00:00.000Z');
  const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();

  it('says how far ahead or behind, to the tenth of a second', () => {
    expect(relativeTime(at(9_500), now)).toBe('in 9.5s');
    expect(relativeTime(at(-180_000), now)).toBe('3m0s ago');
    expect(relativeTime(at(400), now)).toBe('in 400ms');
    expect(relativeTime(at(-260), now)).toBe('300ms ago');
  });

  it('says "now" when the instant is within a twentieth of a second, whichever side', () => {
    expect(relativeTime(at(0), now)).toBe('now');
    expect(relativeTime(at(-40), now)).toBe('now');
    expect(relativeTime(at(49), now)).toBe('now');
  });

  it('prints "-" for no instant', () => {
    expect(relativeTime(null, now)).toBe('-');
  });
});

describe('TableLayout (a list printed a page at a time)', () => {
  it('lays out 200,000 rows without overflowing the stack, widening a column only for later pages', () => {
    const layout = new TableLayout(['ID', 'TYPE', 'SCRIPT'], 60);
    const rows = Array.from({ length: 200_000 }, (_, i) => [`task-${i}`, 'delay', `echo ${i}`]);
    const first = layout.lines(rows);
    expect(first).toHaveLength(200_001);
    // Aligned to the widest id of the page (task-199999: 11 characters).
    expect(first[0]).toBe(`${'ID'.padEnd(11)}  TYPE   SCRIPT`);
    expect(first[1]).toBe(`${'task-0'.padEnd(11)}  delay  echo 0`);
    expect(first[200_000]).toBe('task-199999  delay  echo 199999');
    // A later page with a longer id widens the column from then on; the header is not repeated.
    const later = layout.lines([['a-much-longer-task-id', 'cron', 'ls']]);
    expect(later).toEqual(['a-much-longer-task-id  cron   ls']);
  });

  it('cuts the last column to the width left, so a long script never wraps', () => {
    const [header, row] = new TableLayout(['ID', 'SCRIPT'], 20).lines([['job', 'x'.repeat(100)]]);
    expect(header).toBe('ID   SCRIPT');
    expect(row).toBe(`job  ${'x'.repeat(14)}…`);
  });
});
