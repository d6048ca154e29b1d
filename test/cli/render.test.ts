import { describe, expect, it } from 'vitest';
import { relativeTime, table, TableLayout } from '../../src/cli/render.js';

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

describe('table and TableLayout', () => {
  it('lay out 200,000 rows without overflowing the stack (no spread of the rows)', () => {
    const rows = Array.from({ length: 200_000 }, (_, index) => [`task-${index}`, 'cron', '10s', 'echo hi']);
    const lines = table(['ID', 'TYPE', 'TIME', 'SCRIPT'], rows, 80).split('\n');
    expect(lines).toHaveLength(200_001);
    expect(lines[0]).toBe(`${'ID'.padEnd(11)}  TYPE  TIME  SCRIPT`);
    expect(lines[200_000]).toBe('task-199999  cron  10s   echo hi');
  });

  it('prints the header once and widens a column for a later page, never narrowing it', () => {
    const layout = new TableLayout(['ID', 'TYPE', 'SCRIPT'], 80);
    expect(layout.lines([['a', 'cron', 'ls']])).toEqual(['ID  TYPE  SCRIPT', 'a   cron  ls']);
    expect(layout.lines([['longer', 'at', 'ls -la']])).toEqual(['longer  at    ls -la']);
    expect(layout.lines([['b', 'cron', 'ls']])).toEqual(['b       cron  ls']);
  });
});
