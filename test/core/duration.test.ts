import { describe, expect, it } from 'vitest';
import { formatDuration, maxDurationMs, parseDuration } from '../../src/core/duration.js';
import { SchedulerError } from '../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    ['300ms', 300],
    ['10s', 10_000],
    ['1m', 60_000],
    ['20h', 20 * 3_600_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['1h0.5m', 3_630_000],
    ['2m3s4ms', 123_004],
    ['.5s', 500],
    ['1.s', 1000],
    ['+10s', 10_000],
    ['0', 0],
    ['0s', 0],
    ['1500us', 2], // 1.5ms, rounded to whole milliseconds
    ['1400µs', 1],
    ['999ns', 0],
    ['876000h', maxDurationMs], // exactly the 100-year limit
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', /empty/],
    ['10', /unexpected "10"/],
    ['-1s', /negative/],
    ['1d', /unexpected "1d"/],
    ['1.2.3s', /unexpected/],
    ['s', /unexpected/],
    ['1h 30m', /unexpected/],
    [' 1s', /unexpected/],
    ['1S', /unexpected/],
    ['00', /unexpected/],
    ['876001h', /longer than 100 years/],
    ['9'.repeat(400) + 'h', /longer than 100 years/],
  ])('%j is refused (%s)', (text, why) => {
    let thrown: unknown;
    try {
      parseDuration(text, '-time');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SchedulerError);
    expect((thrown as SchedulerError).code).toBe('invalid_request');
    expect((thrown as SchedulerError).message).toMatch(why);
    // The message names the field it is about.
    expect((thrown as SchedulerError).message.startsWith('-time: ')).toBe(true);
  });

  it('names the field "time" by default', () => {
    expect(() => parseDuration('soon')).toThrow(/^time: "soon"/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [300, '300ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [10_000, '10s'],
    [60_000, '1m0s'],
    [61_001, '1m1.001s'],
    [3_630_000, '1h0m30s'],
    [5_400_000, '1h30m0s'],
    [20 * 3_600_000, '20h0m0s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([0, 1, 300, 1500, 60_000, 61_001, 3_630_000, 5_400_000, 72_000_000, 123_456_789])(
    'parses back what it formats: %d ms',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );
});
