/** Jitter: each fire moved later by a deterministic share of the jitter, order and bounds kept. */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { nextFireAfter, nextFires, type Schedule } from '../../src/core/schedule.js';
import { parseSubmission } from '../../src/core/submission.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const SEC = 1000;
const limits = { maxScriptBytes: 1000 };

function every(everyMs: number, jitterMs: number, seed = 'task', end: number | null = null): Schedule {
  return { kind: 'interval', everyMs, first: T0 + everyMs, end, jitter: { ms: jitterMs, seed } };
}

describe('nextFireAfter with jitter', () => {
  it('moves each fire later by less than the jitter, never earlier', () => {
    const fires = nextFires(every(10 * SEC, 5 * SEC), T0, 200);
    expect(fires).toHaveLength(200);
    fires.forEach((at, index) => {
      const nominal = T0 + (index + 1) * 10 * SEC;
      expect(at).toBeGreaterThanOrEqual(nominal);
      expect(at).toBeLessThan(nominal + 5 * SEC);
    });
    // Spread: not all moved by the same amount.
    expect(new Set(fires.map((at, index) => at - (T0 + (index + 1) * 10 * SEC))).size).toBeGreaterThan(100);
  });

  it('is the same for the same task after a restart, and differs between tasks', () => {
    const first = nextFires(every(10 * SEC, 5 * SEC, 'a'), T0, 20);
    expect(nextFires(every(10 * SEC, 5 * SEC, 'a'), T0, 20)).toEqual(first);
    expect(nextFires(every(10 * SEC, 5 * SEC, 'b'), T0, 20)).not.toEqual(first);
  });

  it('finds the same next fire from any time between two fires (no fire skipped or repeated)', () => {
    const schedule = every(10 * SEC, 9 * SEC);
    const fires = nextFires(schedule, T0, 30);
    for (let index = 1; index < fires.length; index++) {
      // From the previous fire, from just before this one, and from between them.
      expect(nextFireAfter(schedule, fires[index - 1]!)).toBe(fires[index]);
      expect(nextFireAfter(schedule, fires[index]! - 1)).toBe(fires[index]);
      expect(nextFireAfter(schedule, Math.floor((fires[index - 1]! + fires[index]!) / 2))).toBe(fires[index]);
    }
  });

  it('keeps the end bound on the fires themselves: a fire at the end may be due after it', () => {
    const schedule = every(10 * SEC, 5 * SEC, 'task', T0 + 30 * SEC);
    const fires = nextFires(schedule, T0, 10);
    expect(fires).toHaveLength(3);
    expect(nextFireAfter(schedule, fires[2]!)).toBeNull();
  });

  it('applies to a calendar', () => {
    const schedule: Schedule = { kind: 'calendar', expression: '0 * * * *', timezone: 'UTC', start: null, end: null, jitter: { ms: 10 * 60 * SEC, seed: 'hourly' } };
    // From 10:00:00 itself: the 10:00 fire, moved later, is still to come.
    const fires = nextFires(schedule, T0, 24);
    fires.forEach((at, index) => {
      const hour = T0 + index * 3600 * SEC;
      expect(at - hour).toBeGreaterThanOrEqual(0);
      expect(at - hour).toBeLessThan(10 * 60 * SEC);
    });
  });
});

describe('submitting with jitter', () => {
  it('puts the jitter, seeded by the task id, on the schedule', () => {
    const definition = parseSubmission({ id: 'spread', type: 'cron', time: '10s', script: 'true', jitter: '2s' }, limits, T0, 'UTC');
    expect(definition.schedule).toMatchObject({ kind: 'interval', jitter: { ms: 2 * SEC, seed: 'spread' } });
  });

  it('ignores a jitter of 0', () => {
    const definition = parseSubmission({ id: 'plain', type: 'cron', time: '10s', script: 'true', jitter: '0s' }, limits, T0, 'UTC');
    expect(definition.schedule.jitter).toBeUndefined();
  });

  it.each([
    ['10s', '10s'],
    ['10s', '1m'],
    ['*/5 * * * * *', '5s'],
  ])('refuses a jitter not shorter than the time between fires (%s, jitter %s)', (time, jitter) => {
    let error: unknown;
    try {
      parseSubmission({ id: 'x', type: 'cron', time, script: 'true', jitter }, limits, T0, 'UTC');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toMatch(/^jitter: .* is not shorter than the time between two fires/);
  });

  it('refuses a jitter that is not a duration', () => {
    expect(() => parseSubmission({ id: 'x', type: 'cron', time: '10s', script: 'true', jitter: 'soon' }, limits, T0, 'UTC')).toThrow(/jitter/);
  });
});
