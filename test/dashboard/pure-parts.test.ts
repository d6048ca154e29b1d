/**
 * The dashboard's parts that need no browser: schedules in words, times and durations, the
 * putting together of output pieces by byte offset, and its copy of the API's vocabularies.
 */
import { describe, expect, test } from 'vitest';
import { runOutcomes as coreOutcomes, taskStatuses as coreStatuses } from '../../src/core/task.js';
import { countdown, cronInWords, formatDuration, formatTime, scheduleInWords } from '../../src/dashboard/format.js';
import { addPiece, keptText } from '../../src/dashboard/output-text.js';
import { commandRoutes, mayDo, type Command } from '../../src/dashboard/permissions.js';
import { runOutcomes, taskStatuses } from '../../src/dashboard/views.js';
import { mayCall, roles } from '../../src/server/roles.js';

describe('the schedule in words', () => {
  test.each([
    ['0 9 * * MON-FRI', 'at 09:00, Monday to Friday'],
    ['*/10 * * * * *', 'every 10 seconds'],
    ['*/5 * * * *', 'every 5 minutes'],
    ['15 * * * *', 'every hour at minute 15'],
    ['30 2 1 * *', 'at 02:30, on day 1 of the month'],
    ['0 0 * 1,7 0', 'at 00:00, Sunday, in January, July'],
    ['@hourly', 'every hour, on the hour'],
    ['* * * * *', 'every minute'],
  ])('%s: %s', (expression, words) => {
    expect(cronInWords(expression)).toBe(words);
  });

  test('an expression too unusual to say better is shown as it is', () => {
    expect(cronInWords('5-10/2 3 * * *')).toBe('cron 5-10/2 3 * * *');
  });

  test('each kind of task', () => {
    expect(scheduleInWords({ type: 'cron', time: '5m', timezone: 'UTC' }, 'utc')).toBe('every 5m');
    expect(scheduleInWords({ type: 'cron', time: '0 9 * * *', timezone: 'Europe/Paris' }, 'utc')).toBe('at 09:00 (Europe/Paris)');
    expect(scheduleInWords({ type: 'delay', time: '10s', timezone: 'UTC' }, 'utc')).toBe('once, 10s after it was submitted');
    expect(scheduleInWords({ type: 'at', time: '2026-12-24T22:00:00.000Z', timezone: 'UTC' }, 'utc')).toBe('once, at 2026-12-24 22:00:00 UTC');
  });
});

describe('times and durations', () => {
  test('a time in UTC', () => {
    expect(formatTime('2026-12-07T08:00:05.000Z', 'utc')).toBe('2026-12-07 08:00:05 UTC');
    expect(formatTime(null, 'utc')).toBe('—');
  });

  test('durations', () => {
    expect(formatDuration(120)).toBe('120ms');
    expect(formatDuration(5200)).toBe('5.2s');
    expect(formatDuration(192_000)).toBe('3m 12s');
    expect(formatDuration(3_720_000)).toBe('1h 2m');
    expect(formatDuration(90_000_000)).toBe('1d 1h');
  });

  test('countdowns', () => {
    const now = Date.parse('2026-12-07T08:00:00.000Z');
    expect(countdown('2026-12-07T08:03:12.000Z', now)).toBe('in 3m 12s');
    expect(countdown('2026-12-07T07:59:58.000Z', now)).toBe('2.0s overdue');
    expect(countdown('2026-12-07T08:00:00.400Z', now)).toBe('due now');
    expect(countdown(null, now)).toBe('—');
  });
});

describe('output pieces put together by byte offset', () => {
  const empty = { text: '', bytes: 0 };

  test('pieces in order are appended; a piece received again is not', () => {
    const first = addPiece(empty, 0, 'héllo ');
    expect(first).toEqual({ text: 'héllo ', bytes: 7 });
    const second = addPiece(first, 7, 'world\n');
    expect(addPiece(second, 0, 'héllo ')).toBe(second);
    expect(second.text).toBe('héllo world\n');
  });

  test('a piece that overlaps what was received adds only its new bytes, cut on the byte offset', () => {
    const received = addPiece(empty, 0, 'héllo');
    expect(addPiece(received, 0, 'héllo, you')).toEqual({ text: 'héllo, you', bytes: 11 });
  });

  test('a gap (bytes not kept) is marked', () => {
    const received = addPiece(addPiece(empty, 0, 'start'), 100, 'end');
    expect(received.text).toBe("start\n[… 95 bytes not kept (the run's output cap) …]\nend");
    expect(received.bytes).toBe(103);
  });

  test('the kept head and tail of a finished run, with a mark where the middle was dropped', () => {
    const run = { stdout: 'headtail', stdoutBytes: 1000, stdoutDroppedBytes: 992, stdoutDroppedAt: 4 } as const;
    expect(keptText(run as never, 'stdout').text).toBe("head\n[… 992 bytes dropped here (the run's output cap) …]\ntail");
    expect(keptText({ stderr: 'all', stderrBytes: 3 } as never, 'stderr')).toEqual({ text: 'all', bytes: 3 });
  });
});

test("the dashboard's statuses and outcomes are the daemon's", () => {
  expect([...taskStatuses]).toEqual([...coreStatuses]);
  expect([...runOutcomes]).toEqual([...coreOutcomes]);
});

test("the buttons a role may press are the routes the daemon lets it call", () => {
  for (const role of roles) {
    for (const [command, operationId] of Object.entries(commandRoutes) as Array<[Command, string]>) {
      expect(mayDo(role, command), `${role} ${command}`).toBe(mayCall(role, operationId, { hideOutputFromViewers: false }));
    }
  }
});
