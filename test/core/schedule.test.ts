/**
 * When a task fires, with fixed dates: every kind of schedule, the interval grid and its
 * end, catch-up after a gap, and cron expressions in time zones, across daylight-saving
 * changes. Every expected instant is written out in UTC, worked out by hand from the
 * calendar (2026-11-25 is a Wednesday; Europe/Berlin goes to summer time on 2026-03-29 at
 * 01:00Z and back on 2026-10-25 at 01:00Z; America/New_York on 2026-03-08 at 07:00Z and
 * back on 2026-11-01 at 06:00Z).
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import {
  checkCronExpression,
  isRecurring,
  nextFireAfter,
  nextFires,
  upcomingFires,
  type Schedule,
} from '../../src/core/schedule.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** An instant written in UTC. */
const utc = (text: string): number => {
  const at = Date.parse(text.endsWith('Z') ? text : `${text}Z`);
  if (Number.isNaN(at)) throw new Error(`bad test date ${text}`);
  return at;
};
/** Instants as ISO strings, so that a failure shows readable dates. */
const iso = (times: Array<number | null>): Array<string | null> => times.map((at) => (at === null ? null : new Date(at).toISOString()));
const isoOf = (at: number | null): string | null => (at === null ? null : new Date(at).toISOString());

function calendar(expression: string, timezone = 'UTC', bounds: { start?: number; end?: number } = {}): Schedule {
  return { kind: 'calendar', expression, timezone, start: bounds.start ?? null, end: bounds.end ?? null };
}

/** The next `count` fires of a calendar expression after `after`, as ISO strings. */
function fires(expression: string, timezone: string, after: string | number, count: number): Array<string | null> {
  return iso(nextFires(calendar(expression, timezone), typeof after === 'number' ? after : utc(after), count));
}

describe('isRecurring', () => {
  it('is false only for a once schedule', () => {
    expect(isRecurring({ kind: 'once', at: T0 })).toBe(false);
    expect(isRecurring({ kind: 'interval', everyMs: SEC, first: T0, end: null })).toBe(true);
    expect(isRecurring({ kind: 'interval', everyMs: SEC, first: T0, end: T0 })).toBe(true);
    expect(isRecurring(calendar('@yearly'))).toBe(true);
  });
});

describe('nextFireAfter: once', () => {
  const once: Schedule = { kind: 'once', at: T0 + MIN };

  it('is its time while that is strictly later, then null', () => {
    expect(nextFireAfter(once, T0 - 365 * DAY)).toBe(T0 + MIN);
    expect(nextFireAfter(once, T0)).toBe(T0 + MIN);
    expect(nextFireAfter(once, T0 + MIN - 1)).toBe(T0 + MIN);
    expect(nextFireAfter(once, T0 + MIN)).toBeNull();
    expect(nextFireAfter(once, T0 + MIN + 1)).toBeNull();
  });
});

describe('nextFireAfter: interval', () => {
  const F = T0 + 10 * SEC;
  const every10s: Schedule = { kind: 'interval', everyMs: 10 * SEC, first: F, end: null };

  it('is the first fire for any time before it', () => {
    expect(nextFireAfter(every10s, T0)).toBe(F);
    expect(nextFireAfter(every10s, F - 1)).toBe(F);
    expect(nextFireAfter(every10s, F - 25 * SEC)).toBe(F);
    expect(nextFireAfter(every10s, 0)).toBe(F);
  });

  it('is the first grid point strictly after the time given', () => {
    expect(nextFireAfter(every10s, F)).toBe(F + 10 * SEC);
    expect(nextFireAfter(every10s, F + 1)).toBe(F + 10 * SEC);
    expect(nextFireAfter(every10s, F + 9_999)).toBe(F + 10 * SEC);
    expect(nextFireAfter(every10s, F + 10 * SEC)).toBe(F + 20 * SEC);
    expect(nextFireAfter(every10s, F + 30 * SEC)).toBe(F + 40 * SEC);
  });

  it('catches up after a long gap with the one fire after it, on the grid (missed fires are not replayed)', () => {
    const afterDowntime = F + 3 * DAY + 4_321;
    const next = nextFireAfter(every10s, afterDowntime)!;
    expect(next).toBe(F + 3 * DAY + 10 * SEC);
    expect((next - F) % (10 * SEC)).toBe(0);
    expect(next - afterDowntime).toBeLessThanOrEqual(10 * SEC);
  });

  it('stays on the grid anchored at first, whatever first is', () => {
    const first = T0 + 3_217;
    const schedule: Schedule = { kind: 'interval', everyMs: 7 * SEC, first, end: null };
    for (const after of [first, first + 1, first + 45_678, first + 7_000 * 97 + 6_999]) {
      const next = nextFireAfter(schedule, after)!;
      expect((next - first) % 7_000).toBe(0);
      expect(next).toBeGreaterThan(after);
      expect(next - after).toBeLessThanOrEqual(7_000);
    }
  });

  it('fires at its end (inclusive), and never after it', () => {
    const ending: Schedule = { ...every10s, end: F + 20 * SEC };
    expect(nextFireAfter(ending, T0)).toBe(F);
    expect(nextFireAfter(ending, F)).toBe(F + 10 * SEC);
    expect(nextFireAfter(ending, F + 10 * SEC)).toBe(F + 20 * SEC);
    expect(nextFireAfter(ending, F + 20 * SEC - 1)).toBe(F + 20 * SEC);
    expect(nextFireAfter(ending, F + 20 * SEC)).toBeNull();
    expect(nextFireAfter(ending, F + 365 * DAY)).toBeNull();
  });

  it('an end between two grid points: the last fire is the one before it', () => {
    const ending: Schedule = { ...every10s, end: F + 20 * SEC - 1 };
    expect(nextFireAfter(ending, F)).toBe(F + 10 * SEC);
    expect(nextFireAfter(ending, F + 10 * SEC)).toBeNull();
  });

  it('an end at the first fire fires once; an end before it never', () => {
    expect(nextFires({ ...every10s, end: F }, T0, 5)).toEqual([F]);
    expect(nextFireAfter({ ...every10s, end: F - 1 }, T0)).toBeNull();
  });

  it('a catch-up past the end is null, not a fire beyond it', () => {
    const ending: Schedule = { ...every10s, end: F + HOUR };
    expect(nextFireAfter(ending, F + HOUR - 5 * SEC)).toBe(F + HOUR);
    expect(nextFireAfter(ending, F + 2 * HOUR + 1)).toBeNull();
  });
});

describe('nextFireAfter: calendar, the fields of an expression', () => {
  it('5 fields: minute hour day-of-month month day-of-week', () => {
    // Wednesday 10:00Z: today's 09:00 has passed.
    expect(fires('0 9 * * MON-FRI', 'UTC', T0, 4)).toEqual([
      '2026-11-26T09:00:00.000Z', // Thursday
      '2026-11-27T09:00:00.000Z', // Friday
      '2026-11-30T09:00:00.000Z', // Monday: the weekend is skipped
      '2026-12-01T09:00:00.000Z',
    ]);
    expect(fires('*/15 * * * *', 'UTC', T0 + 1, 3)).toEqual(['2026-11-25T10:15:00.000Z', '2026-11-25T10:30:00.000Z', '2026-11-25T10:45:00.000Z']);
  });

  it('6 fields: seconds first; strictly after the time given', () => {
    expect(fires('*/10 * * * * *', 'UTC', T0, 3)).toEqual(['2026-11-25T10:00:10.000Z', '2026-11-25T10:00:20.000Z', '2026-11-25T10:00:30.000Z']);
    expect(isoOf(nextFireAfter(calendar('*/10 * * * * *'), T0 - 1))).toBe('2026-11-25T10:00:00.000Z');
    expect(isoOf(nextFireAfter(calendar('*/10 * * * * *'), T0 + 10 * SEC - 1))).toBe('2026-11-25T10:00:10.000Z');
    expect(isoOf(nextFireAfter(calendar('*/10 * * * * *'), T0 + 10 * SEC))).toBe('2026-11-25T10:00:20.000Z');
    // A fraction of a second after a fire: the next one, not the same second again.
    expect(isoOf(nextFireAfter(calendar('*/10 * * * * *'), T0 + 10 * SEC + 1))).toBe('2026-11-25T10:00:20.000Z');
    expect(fires('30 0 12 * * *', 'UTC', T0, 2)).toEqual(['2026-11-25T12:00:30.000Z', '2026-11-26T12:00:30.000Z']);
  });

  it('7 fields: a year last; nothing after that year', () => {
    expect(fires('0 0 12 1 1 * 2028', 'UTC', T0, 3)).toEqual(['2028-01-01T12:00:00.000Z']);
    expect(fires('0 0 12 1 1 * 2027-2029', 'UTC', T0, 5)).toEqual(['2027-01-01T12:00:00.000Z', '2028-01-01T12:00:00.000Z', '2029-01-01T12:00:00.000Z']);
    // A year that has passed: the schedule never fires.
    expect(nextFireAfter(calendar('0 0 12 1 1 * 2025'), T0)).toBeNull();
  });

  it('ranges, steps, lists and names', () => {
    // Hours 8 to 17 every 3: 8, 11, 14, 17; weekdays only.
    expect(fires('15 8-17/3 * * MON-FRI', 'UTC', T0, 5)).toEqual([
      '2026-11-25T11:15:00.000Z',
      '2026-11-25T14:15:00.000Z',
      '2026-11-25T17:15:00.000Z',
      '2026-11-26T08:15:00.000Z',
      '2026-11-26T11:15:00.000Z',
    ]);
    expect(fires('0 0 1 JAN,JUL *', 'UTC', T0, 3)).toEqual(['2027-01-01T00:00:00.000Z', '2027-07-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']);
    expect(fires('0 12 * * sat,SUN', 'UTC', T0, 3)).toEqual(['2026-11-28T12:00:00.000Z', '2026-11-29T12:00:00.000Z', '2026-12-05T12:00:00.000Z']);
    // 7 is Sunday too.
    expect(fires('0 12 * * 7', 'UTC', T0, 1)).toEqual(['2026-11-29T12:00:00.000Z']);
    expect(fires('5,10,50 10 * * *', 'UTC', T0, 4)).toEqual([
      '2026-11-25T10:05:00.000Z',
      '2026-11-25T10:10:00.000Z',
      '2026-11-25T10:50:00.000Z',
      '2026-11-26T10:05:00.000Z',
    ]);
  });

  it('day-of-month and day-of-week both given: either one matches (Vixie cron)', () => {
    // The 1st of the month, or a Monday.
    expect(fires('0 20 1 * MON', 'UTC', T0, 3)).toEqual(['2026-11-30T20:00:00.000Z', '2026-12-01T20:00:00.000Z', '2026-12-07T20:00:00.000Z']);
  });

  it('L: the last day of the month, whatever its length', () => {
    expect(fires('0 0 L * *', 'UTC', T0, 4)).toEqual([
      '2026-11-30T00:00:00.000Z',
      '2026-12-31T00:00:00.000Z',
      '2027-01-31T00:00:00.000Z',
      '2027-02-28T00:00:00.000Z',
    ]);
    expect(fires('0 0 L 2 *', 'UTC', T0, 3)).toEqual(['2027-02-28T00:00:00.000Z', '2028-02-29T00:00:00.000Z', '2029-02-28T00:00:00.000Z']);
    // The last Friday of the month (day-of-week L).
    expect(fires('0 10 * * 5L', 'UTC', T0, 2)).toEqual(['2026-11-27T10:00:00.000Z', '2026-12-25T10:00:00.000Z']);
  });

  it('W: the weekday nearest to a day, within its month', () => {
    // 2026-11-15 is a Sunday: the Monday after; 2026-08-15 is a Saturday: the Friday before.
    expect(fires('0 9 15W * *', 'UTC', '2026-11-01T00:00:00Z', 1)).toEqual(['2026-11-16T09:00:00.000Z']);
    expect(fires('0 9 15W * *', 'UTC', '2026-08-01T00:00:00Z', 1)).toEqual(['2026-08-14T09:00:00.000Z']);
    // 2026-08-01 is a Saturday: 1W does not go back into July, it is Monday the 3rd.
    expect(fires('0 9 1W * *', 'UTC', '2026-07-31T12:00:00Z', 1)).toEqual(['2026-08-03T09:00:00.000Z']);
    // A weekday stays itself: 2026-12-15 is a Tuesday.
    expect(fires('0 9 15W * *', 'UTC', T0, 1)).toEqual(['2026-12-15T09:00:00.000Z']);
  });

  it('#: the nth weekday of the month', () => {
    // The second Monday: 2026-12-14, 2027-01-11.
    expect(fires('0 10 * * MON#2', 'UTC', T0, 2)).toEqual(['2026-12-14T10:00:00.000Z', '2027-01-11T10:00:00.000Z']);
    // The first Sunday of December 2026 is the 6th.
    expect(fires('0 10 * * 0#1', 'UTC', T0, 1)).toEqual(['2026-12-06T10:00:00.000Z']);
  });

  it.each([
    ['@yearly', '2027-01-01T00:00:00.000Z'],
    ['@annually', '2027-01-01T00:00:00.000Z'],
    ['@monthly', '2026-12-01T00:00:00.000Z'],
    ['@weekly', '2026-11-29T00:00:00.000Z'], // Sunday
    ['@daily', '2026-11-26T00:00:00.000Z'],
    ['@midnight', '2026-11-26T00:00:00.000Z'],
    ['@hourly', '2026-11-25T11:00:00.000Z'],
  ])('the nickname %s', (nickname, next) => {
    expect(isoOf(nextFireAfter(calendar(nickname), T0))).toBe(next);
  });

  it('0 0 29 2 * fires only in leap years', () => {
    expect(fires('0 0 29 2 *', 'UTC', T0, 3)).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z', '2036-02-29T00:00:00.000Z']);
    // Right after one leap day, the next is four years on (2100 is not a leap year: 2104).
    expect(fires('0 0 29 2 *', 'UTC', '2096-02-29T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00.000Z']);
  });
});

describe('nextFireAfter: calendar, in a time zone', () => {
  it('the same expression fires at different instants in two zones', () => {
    // 09:00 in winter: CET is UTC+1, EST is UTC-5. At 10:00Z it is 11:00 in Berlin (today's
    // 09:00 has passed) and 05:00 in New York (it has not).
    expect(fires('0 9 * * *', 'Europe/Berlin', T0, 2)).toEqual(['2026-11-26T08:00:00.000Z', '2026-11-27T08:00:00.000Z']);
    expect(fires('0 9 * * *', 'America/New_York', T0, 2)).toEqual(['2026-11-25T14:00:00.000Z', '2026-11-26T14:00:00.000Z']);
    expect(fires('0 9 * * *', 'UTC', T0, 1)).toEqual(['2026-11-26T09:00:00.000Z']);
    // In summer the offsets are one hour more: CEST UTC+2, EDT UTC-4.
    expect(fires('0 9 * * *', 'Europe/Berlin', '2026-07-01T00:00:00Z', 1)).toEqual(['2026-07-01T07:00:00.000Z']);
    expect(fires('0 9 * * *', 'America/New_York', '2026-07-01T00:00:00Z', 1)).toEqual(['2026-07-01T13:00:00.000Z']);
    // Zones with a part-hour offset.
    expect(fires('0 9 * * *', 'Asia/Kolkata', T0, 1)).toEqual(['2026-11-26T03:30:00.000Z']);
    expect(fires('0 9 * * *', 'Asia/Kathmandu', T0, 1)).toEqual(['2026-11-26T03:15:00.000Z']);
  });

  it('days and weekdays are those of the zone, not of UTC', () => {
    // 23:30 on Fridays in New York is 04:30Z on Saturdays.
    expect(fires('30 23 * * FRI', 'America/New_York', T0, 2)).toEqual(['2026-11-28T04:30:00.000Z', '2026-12-05T04:30:00.000Z']);
    // Midnight on the 1st in Tokyo (UTC+9) is 15:00Z on the last day of the month before.
    expect(fires('0 0 1 * *', 'Asia/Tokyo', T0, 2)).toEqual(['2026-11-30T15:00:00.000Z', '2026-12-31T15:00:00.000Z']);
  });

  describe('Europe/Berlin, spring forward (2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z)', () => {
    it('a fixed-time job in the gap runs once, right after it, then at its time again', () => {
      expect(fires('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3)).toEqual([
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        '2026-03-29T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
      ]);
      // With seconds, the same.
      expect(fires('0 30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 1)).toEqual(['2026-03-29T01:00:00.000Z']);
    });

    it('an interval job skips the times that do not exist', () => {
      expect(fires('*/30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 3)).toEqual([
        '2026-03-30T00:00:00.000Z', // 02:00 CEST on the 30th: none on the 29th
        '2026-03-30T00:30:00.000Z',
        '2026-03-31T00:00:00.000Z',
      ]);
      // Every half hour through the change: 01:30 CET, then 03:00 CEST; no 02:00 or 02:30.
      expect(fires('0,30 * * * *', 'Europe/Berlin', '2026-03-29T00:15:00Z', 3)).toEqual([
        '2026-03-29T00:30:00.000Z',
        '2026-03-29T01:00:00.000Z',
        '2026-03-29T01:30:00.000Z',
      ]);
    });
  });

  describe('Europe/Berlin, fall back (2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z)', () => {
    it('a fixed-time job in the repeated hour runs once, at the first occurrence', () => {
      expect(fires('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual([
        '2026-10-25T00:30:00.000Z', // 02:30 CEST; not again at 02:30 CET (01:30Z)
        '2026-10-26T01:30:00.000Z', // 02:30 CET
      ]);
      // Asked from between the two occurrences, it is tomorrow's.
      expect(fires('30 2 * * *', 'Europe/Berlin', '2026-10-25T00:45:00Z', 1)).toEqual(['2026-10-26T01:30:00.000Z']);
    });

    it('an interval job runs at both occurrences of a repeated time', () => {
      expect(fires('*/30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 5)).toEqual([
        '2026-10-25T00:00:00.000Z', // 02:00 CEST
        '2026-10-25T00:30:00.000Z', // 02:30 CEST
        '2026-10-25T01:00:00.000Z', // 02:00 CET
        '2026-10-25T01:30:00.000Z', // 02:30 CET
        '2026-10-26T01:00:00.000Z',
      ]);
      // Hourly: every real hour, none missing and none twice.
      expect(fires('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 3)).toEqual([
        '2026-10-25T00:00:00.000Z',
        '2026-10-25T01:00:00.000Z',
        '2026-10-25T02:00:00.000Z',
      ]);
    });
  });

  describe('America/New_York, spring forward (2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00Z)', () => {
    it('a fixed-time job in the gap runs once, right after it', () => {
      expect(fires('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 3)).toEqual([
        '2026-03-07T07:30:00.000Z', // 02:30 EST
        '2026-03-08T07:00:00.000Z', // 03:00 EDT
        '2026-03-09T06:30:00.000Z', // 02:30 EDT
      ]);
    });

    it('an interval job skips the times that do not exist', () => {
      expect(fires('*/30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2)).toEqual(['2026-03-09T06:00:00.000Z', '2026-03-09T06:30:00.000Z']);
      expect(fires('*/30 * * * *', 'America/New_York', '2026-03-08T06:15:00Z', 3)).toEqual([
        '2026-03-08T06:30:00.000Z', // 01:30 EST
        '2026-03-08T07:00:00.000Z', // 03:00 EDT
        '2026-03-08T07:30:00.000Z',
      ]);
    });
  });

  describe('America/New_York, fall back (2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z)', () => {
    it('a fixed-time job in the repeated hour runs once, at the first occurrence', () => {
      expect(fires('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
        '2026-11-01T05:30:00.000Z', // 01:30 EDT; not again at 01:30 EST (06:30Z)
        '2026-11-02T06:30:00.000Z', // 01:30 EST
      ]);
    });

    it('an interval job runs at both occurrences of a repeated time', () => {
      expect(fires('*/30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 5)).toEqual([
        '2026-11-01T05:00:00.000Z',
        '2026-11-01T05:30:00.000Z',
        '2026-11-01T06:00:00.000Z',
        '2026-11-01T06:30:00.000Z',
        '2026-11-02T06:00:00.000Z',
      ]);
    });
  });

  it('a zone without daylight saving time: the same UTC time all year', () => {
    expect(fires('30 2 * * *', 'Asia/Tokyo', '2026-03-27T12:00:00Z', 3)).toEqual(['2026-03-27T17:30:00.000Z', '2026-03-28T17:30:00.000Z', '2026-03-29T17:30:00.000Z']);
  });
});

describe('nextFireAfter: calendar, start and end', () => {
  const hourly = '0 * * * *';
  const noon = utc('2026-11-25T12:00:00');

  it('fires from start on: a fire exactly at start counts', () => {
    const schedule = calendar(hourly, 'UTC', { start: noon });
    expect(nextFireAfter(schedule, T0)).toBe(noon);
    expect(nextFireAfter(schedule, noon - 1)).toBe(noon);
    // Strictly after, still: at start itself, the next one.
    expect(nextFireAfter(schedule, noon)).toBe(noon + HOUR);
    expect(nextFires(schedule, T0, 3)).toEqual([noon, noon + HOUR, noon + 2 * HOUR]);
  });

  it('a start between two fires: the first fire after it', () => {
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: noon + 1 }), T0)).toBe(noon + HOUR);
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: noon - 1 }), T0)).toBe(noon);
  });

  it('a start already passed changes nothing', () => {
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: T0 - DAY }), T0)).toBe(T0 + HOUR);
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: T0 - DAY }), T0 - 1)).toBe(T0);
  });

  it('fires at its end (inclusive), and never after it', () => {
    const schedule = calendar(hourly, 'UTC', { end: noon });
    expect(nextFires(schedule, T0, 10)).toEqual([T0 + HOUR, noon]);
    expect(nextFireAfter(schedule, noon - 1)).toBe(noon);
    expect(nextFireAfter(schedule, noon)).toBeNull();
    expect(nextFireAfter(schedule, noon + 10 * DAY)).toBeNull();
    expect(nextFires(calendar(hourly, 'UTC', { end: noon - 1 }), T0, 10)).toEqual([T0 + HOUR]);
  });

  it('start and end together bound it on both sides; a window with no fire is null', () => {
    const schedule = calendar('*/20 * * * *', 'UTC', { start: noon, end: noon + HOUR });
    expect(iso(nextFires(schedule, T0, 10))).toEqual([
      '2026-11-25T12:00:00.000Z',
      '2026-11-25T12:20:00.000Z',
      '2026-11-25T12:40:00.000Z',
      '2026-11-25T13:00:00.000Z',
    ]);
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: noon + 1, end: noon + HOUR - 1 }), T0)).toBeNull();
    expect(nextFireAfter(calendar(hourly, 'UTC', { start: noon, end: noon }), T0)).toBe(noon);
  });

  it('catches up after a gap with the first fire after it, on the calendar', () => {
    const schedule = calendar('*/10 * * * * *', 'UTC');
    // Three days and a bit later: the next :x0 second, not a replay of what was missed.
    expect(nextFireAfter(schedule, T0 + 3 * DAY + 4_321)).toBe(T0 + 3 * DAY + 10 * SEC);
  });
});

describe('nextFires', () => {
  const every10s: Schedule = { kind: 'interval', everyMs: 10 * SEC, first: T0 + 10 * SEC, end: null };

  it('gives count fires in order, each strictly after the one before', () => {
    expect(nextFires(every10s, T0, 4)).toEqual([T0 + 10 * SEC, T0 + 20 * SEC, T0 + 30 * SEC, T0 + 40 * SEC]);
    expect(nextFires(every10s, T0 + 15 * SEC, 2)).toEqual([T0 + 20 * SEC, T0 + 30 * SEC]);
  });

  it('gives fewer when the schedule ends, and none after it', () => {
    const ending: Schedule = { ...every10s, end: T0 + 30 * SEC };
    expect(nextFires(ending, T0, 10)).toEqual([T0 + 10 * SEC, T0 + 20 * SEC, T0 + 30 * SEC]);
    expect(nextFires(ending, T0 + 30 * SEC, 10)).toEqual([]);
    expect(nextFires({ kind: 'once', at: T0 + MIN }, T0, 3)).toEqual([T0 + MIN]);
    expect(nextFires({ kind: 'once', at: T0 + MIN }, T0 + MIN, 3)).toEqual([]);
  });

  it('gives nothing for a count of 0', () => {
    expect(nextFires(every10s, T0, 0)).toEqual([]);
    expect(nextFires(calendar('@hourly'), T0, 0)).toEqual([]);
  });
});

describe('upcomingFires', () => {
  const every10s: Schedule = { kind: 'interval', everyMs: 10 * SEC, first: T0 + 10 * SEC, end: null };

  it('starts at the task’s next fire, then the schedule’s fires after it', () => {
    expect(upcomingFires(every10s, T0 + 30 * SEC, 3)).toEqual([T0 + 30 * SEC, T0 + 40 * SEC, T0 + 50 * SEC]);
    expect(iso(upcomingFires(calendar('0 9 * * *', 'Europe/Berlin'), utc('2026-11-26T08:00:00'), 2))).toEqual([
      '2026-11-26T08:00:00.000Z',
      '2026-11-27T08:00:00.000Z',
    ]);
  });

  it('keeps a next fire that is off the grid (a catch-up pending), then goes back on it', () => {
    expect(upcomingFires(every10s, T0 + 12 * SEC, 3)).toEqual([T0 + 12 * SEC, T0 + 20 * SEC, T0 + 30 * SEC]);
  });

  it('is cut short by the end, and is the one fire of a once schedule', () => {
    expect(upcomingFires({ ...every10s, end: T0 + 20 * SEC }, T0 + 10 * SEC, 5)).toEqual([T0 + 10 * SEC, T0 + 20 * SEC]);
    expect(upcomingFires({ ...every10s, end: T0 + 20 * SEC }, T0 + 20 * SEC, 5)).toEqual([T0 + 20 * SEC]);
    expect(upcomingFires({ kind: 'once', at: T0 + MIN }, T0 + MIN, 5)).toEqual([T0 + MIN]);
  });

  it('is empty when the task has no next fire (final, or stopping), or for a count of 0', () => {
    expect(upcomingFires(every10s, null, 5)).toEqual([]);
    expect(upcomingFires(every10s, T0 + 10 * SEC, 0)).toEqual([]);
    expect(upcomingFires(every10s, T0 + 10 * SEC, -1)).toEqual([]);
    expect(upcomingFires(every10s, T0 + 10 * SEC, 1)).toEqual([T0 + 10 * SEC]);
  });
});

describe('checkCronExpression', () => {
  it.each([
    '* * * * *',
    '0 9 * * MON-FRI',
    '*/10 * * * * *',
    '0 0 12 1 1 * 2028',
    '0 0 L * *',
    '0 9 15W * *',
    '0 10 * * MON#2',
    '0 10 * * 5L',
    '@hourly',
    '@daily',
    '@weekly',
    '@monthly',
    '@yearly',
    '@annually',
    '@midnight',
  ])('accepts %j', (expression) => {
    expect(() => checkCronExpression(expression, 'Europe/Berlin', 'time')).not.toThrow();
  });

  it.each([
    '* * * *', // 4 fields
    '* * * * * * * *', // 8 fields
    '61 * * * *',
    '* 24 * * *',
    '* * 32 * *',
    '* * * 13 *',
    '* * * * 8',
    '* * * FOO *',
    '5-1/0 * * * *',
    'every day',
    '@fortnightly',
    '',
  ])('refuses %j with invalid_request, naming the field and the expression', (expression) => {
    let thrown: unknown;
    try {
      checkCronExpression(expression, 'UTC', 'time');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SchedulerError);
    expect((thrown as SchedulerError).code).toBe('invalid_request');
    expect((thrown as SchedulerError).message).toMatch(/^time: ".*" is not a cron expression/);
    expect((thrown as SchedulerError).message).toContain(`"${expression}"`);
  });
});
