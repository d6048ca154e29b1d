/**
 * The run policy: parseRunPolicy (every field, its default, and an error naming the field
 * for each wrong value), the retry backoff (exponential, capped, with a jitter that is
 * deterministic per task, fire and attempt) and which run ends are retried.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { defaultRunPolicy, isRetriable, maxRetries, parseRunPolicy, retryDelay, type PolicyInput, type RetryPolicy } from '../../src/core/policy.js';
import { runOutcomes } from '../../src/core/task.js';
import { unitHash } from '../../src/core/unit-hash.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

/** The message of the invalid_request error `input` is refused with. */
function refusal(input: PolicyInput): string {
  try {
    parseRunPolicy(input);
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('invalid_request');
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('parseRunPolicy: defaults', () => {
  it('nothing given: overlap skip, no retries, catch-up once without a window', () => {
    expect(parseRunPolicy({})).toEqual({ overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } });
    expect(parseRunPolicy({})).toEqual(defaultRunPolicy);
  });

  it('the default policy is frozen, so no task can change it for the others', () => {
    expect(Object.isFrozen(defaultRunPolicy)).toBe(true);
    expect(Object.isFrozen(defaultRunPolicy.catchUp)).toBe(true);
  });

  it('retries alone: a 1s first delay, at most 1h, any failure', () => {
    expect(parseRunPolicy({ retries: 2 })).toEqual({
      overlap: 'skip',
      retry: { max: 2, delayMs: SEC, maxDelayMs: HOUR, onExitCodes: null },
      catchUp: { mode: 'once', windowMs: null },
    });
  });

  it('retries 0 is no retries', () => {
    expect(parseRunPolicy({ retries: 0 }).retry).toBeNull();
  });
});

describe('parseRunPolicy: every field', () => {
  it('reads each field given', () => {
    expect(
      parseRunPolicy({ overlap: 'queue', retries: 3, retryDelay: '2s', retryMaxDelay: '1m30s', retryOn: [1, 75], catchUp: 'all', catchUpWindow: '1h' }),
    ).toEqual({
      overlap: 'queue',
      retry: { max: 3, delayMs: 2 * SEC, maxDelayMs: 90 * SEC, onExitCodes: [1, 75] },
      catchUp: { mode: 'all', windowMs: HOUR },
    });
  });

  it.each(['skip', 'queue', 'replace'] as const)('overlap %s', (overlap) => {
    expect(parseRunPolicy({ overlap }).overlap).toBe(overlap);
  });

  it.each(['none', 'once', 'all'] as const)('catchUp %s, with and without a window', (mode) => {
    expect(parseRunPolicy({ catchUp: mode }).catchUp).toEqual({ mode, windowMs: null });
    expect(parseRunPolicy({ catchUp: mode, catchUpWindow: '90m' }).catchUp).toEqual({ mode, windowMs: 90 * MIN });
  });

  it('a window without a rule applies to the default rule, once', () => {
    expect(parseRunPolicy({ catchUpWindow: '10m' }).catchUp).toEqual({ mode: 'once', windowMs: 10 * MIN });
  });

  it('the catch-up fields go with retries or without them', () => {
    expect(parseRunPolicy({ retries: 1, catchUp: 'none' })).toMatchObject({ retry: { max: 1 }, catchUp: { mode: 'none' } });
    expect(parseRunPolicy({ retries: 0, catchUp: 'none' })).toMatchObject({ retry: null, catchUp: { mode: 'none' } });
  });

  it('retries up to the maximum, 100', () => {
    expect(maxRetries).toBe(100);
    expect(parseRunPolicy({ retries: 100 }).retry?.max).toBe(100);
    expect(parseRunPolicy({ retries: 1 }).retry?.max).toBe(1);
  });

  it('a max delay equal to the delay is fine', () => {
    expect(parseRunPolicy({ retries: 1, retryDelay: '5s', retryMaxDelay: '5s' }).retry).toMatchObject({ delayMs: 5 * SEC, maxDelayMs: 5 * SEC });
  });

  it('a max delay given alone must not be shorter than the default delay (1s)', () => {
    expect(parseRunPolicy({ retries: 1, retryMaxDelay: '1s' }).retry).toMatchObject({ delayMs: SEC, maxDelayMs: SEC });
  });

  it('exit codes from 1 to 255', () => {
    expect(parseRunPolicy({ retries: 1, retryOn: [1] }).retry?.onExitCodes).toEqual([1]);
    expect(parseRunPolicy({ retries: 1, retryOn: [255, 2] }).retry?.onExitCodes).toEqual([255, 2]);
  });
});

describe('parseRunPolicy: errors name the field', () => {
  it.each<[string, PolicyInput, string | RegExp]>([
    ['an unknown overlap rule', { overlap: 'drop' }, 'overlap: "drop" is not an overlap rule: use skip, queue, allow or replace'],
    ['an overlap rule in capitals', { overlap: 'Queue' }, 'overlap: "Queue" is not an overlap rule: use skip, queue, allow or replace'],
    ['an unknown catch-up rule', { catchUp: 'latest' }, 'catchUp: "latest" is not a catch-up rule: use none, once or all'],
    ['a catch-up window of 0', { catchUpWindow: '0' }, 'catchUpWindow: must be longer than 0'],
    ['a catch-up window of 0s', { catchUpWindow: '0s' }, 'catchUpWindow: must be longer than 0'],
    ['a catch-up window that is no duration', { catchUpWindow: 'a day' }, /^catchUpWindow: "a day" is not a valid duration/],
    ['a negative catch-up window', { catchUpWindow: '-1h' }, /^catchUpWindow: "-1h" is not a valid duration \(it is negative\)/],
    ['negative retries', { retries: -1 }, 'retries: must be a whole number from 0 to 100'],
    ['fractional retries', { retries: 1.5 }, 'retries: must be a whole number from 0 to 100'],
    ['too many retries', { retries: 101 }, 'retries: must be a whole number from 0 to 100'],
    ['a retry delay without retries', { retryDelay: '1s' }, 'retryDelay: only applies with retries of at least 1'],
    ['a retry max delay with retries 0', { retries: 0, retryMaxDelay: '1m' }, 'retryMaxDelay: only applies with retries of at least 1'],
    ['retry exit codes without retries', { retryOn: [1] }, 'retryOn: only applies with retries of at least 1'],
    ['a retry delay of 0', { retries: 1, retryDelay: '0' }, 'retryDelay: must be longer than 0'],
    ['a retry delay that is no duration', { retries: 1, retryDelay: 'soon' }, /^retryDelay: "soon" is not a valid duration/],
    ['a retry max delay that is no duration', { retries: 1, retryMaxDelay: '1 hour' }, /^retryMaxDelay: "1 hour" is not a valid duration/],
    ['a max delay shorter than the delay', { retries: 1, retryDelay: '10s', retryMaxDelay: '5s' }, 'retryMaxDelay: is shorter than retryDelay (10s)'],
    ['a max delay shorter than the default delay', { retries: 1, retryMaxDelay: '500ms' }, 'retryMaxDelay: is shorter than retryDelay (1s)'],
    ['no exit codes', { retries: 1, retryOn: [] }, 'retryOn: must list exit codes from 1 to 255'],
    ['exit code 0 (a success)', { retries: 1, retryOn: [0] }, 'retryOn: must list exit codes from 1 to 255'],
    ['exit code 256', { retries: 1, retryOn: [1, 256] }, 'retryOn: must list exit codes from 1 to 255'],
    ['a fractional exit code', { retries: 1, retryOn: [1.5] }, 'retryOn: must list exit codes from 1 to 255'],
  ])('%s', (_name, input, expected) => {
    const message = refusal(input);
    if (typeof expected === 'string') expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });
});

describe('retryDelay', () => {
  const policy: RetryPolicy = { max: 20, delayMs: SEC, maxDelayMs: MIN, onExitCodes: null };
  /** The delay before attempt `attempt` without jitter: doubled per attempt from delayMs, capped. */
  const full = (attempt: number) => Math.min(MIN, SEC * 2 ** (attempt - 2));

  it('lies between half and all of the exponential delay: 1s, 2s, 4s, ... capped at the max (1m)', () => {
    expect([2, 3, 4, 5, 6, 7, 8, 9, 20].map(full)).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60].map((s) => s * SEC));
    for (const fire of [T0, T0 + MIN, T0 + HOUR + 7]) {
      for (let attempt = 2; attempt <= 20; attempt++) {
        const delay = retryDelay(policy, 'task', fire, attempt);
        expect(Number.isInteger(delay), `attempt ${attempt}`).toBe(true);
        expect(delay, `attempt ${attempt}`).toBeGreaterThanOrEqual(full(attempt) / 2);
        expect(delay, `attempt ${attempt}`).toBeLessThanOrEqual(full(attempt));
      }
    }
  });

  it('grows: a later attempt never waits less than half of an earlier one would at most, and reaches the cap', () => {
    // With jitter in [half, full], attempt n+2 (4x the delay) always waits longer than attempt n.
    for (let attempt = 2; attempt <= 5; attempt++) {
      expect(retryDelay(policy, 'grow', T0, attempt + 2)).toBeGreaterThan(retryDelay(policy, 'grow', T0, attempt));
    }
    expect(retryDelay(policy, 'grow', T0, 50)).toBeGreaterThanOrEqual(30 * SEC);
    expect(retryDelay(policy, 'grow', T0, 50)).toBeLessThanOrEqual(MIN);
  });

  it('stays finite and capped for the highest attempt allowed', () => {
    const hour: RetryPolicy = { max: 100, delayMs: SEC, maxDelayMs: HOUR, onExitCodes: null };
    const delay = retryDelay(hour, 'many', T0, 101);
    expect(delay).toBeGreaterThanOrEqual(HOUR / 2);
    expect(delay).toBeLessThanOrEqual(HOUR);
  });

  it('is deterministic: the same task, fire and attempt always wait the same (a restart does not move a retry)', () => {
    for (let attempt = 2; attempt <= 6; attempt++) {
      const once = retryDelay(policy, 'backup', T0 + MIN, attempt);
      expect(retryDelay({ ...policy }, 'backup', T0 + MIN, attempt)).toBe(once);
      expect(retryDelay(policy, 'backup', T0 + MIN, attempt)).toBe(once);
    }
  });

  it('differs across fires, tasks and attempts, and spreads over the whole jitter range', () => {
    const byFire = Array.from({ length: 200 }, (_, k) => retryDelay(policy, 'backup', T0 + k * MIN, 2));
    // 200 fires of the same task: the delays are not all the same, and cover both halves of [0.5s, 1s].
    expect(new Set(byFire).size).toBeGreaterThan(100);
    expect(Math.min(...byFire)).toBeLessThan(600);
    expect(Math.max(...byFire)).toBeGreaterThan(900);
    const byTask = Array.from({ length: 50 }, (_, k) => retryDelay(policy, `task-${k}`, T0, 2));
    expect(new Set(byTask).size).toBeGreaterThan(25);
    // The same fire's attempts are jittered apart, not by one shared factor.
    const factors = [2, 3, 4, 5, 6].map((attempt) => retryDelay(policy, 'backup', T0, attempt) / full(attempt));
    expect(new Set(factors.map((f) => f.toFixed(3))).size).toBeGreaterThan(1);
  });

  it('unitHash is in [0, 1) and depends only on its key', () => {
    const values = Array.from({ length: 500 }, (_, k) => unitHash(`key ${k}`));
    for (const value of values) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
    expect(unitHash('same')).toBe(unitHash('same'));
    expect(unitHash('same')).not.toBe(unitHash('same '));
  });
});

describe('isRetriable', () => {
  const any: RetryPolicy = { max: 3, delayMs: SEC, maxDelayMs: MIN, onExitCodes: null };
  const only: RetryPolicy = { ...any, onExitCodes: [1, 75] };

  it('retries a failed run (exit code or signal) and a timed-out one; nothing else', () => {
    expect(isRetriable(any, 'failed', 1)).toBe(true);
    expect(isRetriable(any, 'failed', 2)).toBe(true);
    expect(isRetriable(any, 'failed', null)).toBe(true); // killed by a signal, or could not start
    expect(isRetriable(any, 'timed_out', null)).toBe(true);
    const retried = runOutcomes.filter((outcome) => isRetriable(any, outcome, 1));
    expect(retried).toEqual(['failed', 'timed_out']);
  });

  it('retries a run interrupted by the loss of its node, not one interrupted by its own daemon\'s stop', () => {
    expect(isRetriable(any, 'interrupted', null, true)).toBe(true);
    expect(isRetriable(any, 'interrupted', null, false)).toBe(false);
    // The flag says why a run was interrupted; it makes nothing else retried.
    for (const outcome of ['succeeded', 'killed', 'skipped', 'running'] as const) expect(isRetriable(any, outcome, null, true), outcome).toBe(false);
  });

  it('never retries a success, a kill, an interruption, a skipped or running run', () => {
    for (const outcome of ['succeeded', 'killed', 'interrupted', 'skipped', 'running'] as const) {
      expect(isRetriable(any, outcome, null), outcome).toBe(false);
      expect(isRetriable(any, outcome, 0), outcome).toBe(false);
      expect(isRetriable(only, outcome, 75), outcome).toBe(false);
    }
  });

  it('with exit codes: only a failed run that exited with one of them', () => {
    expect(isRetriable(only, 'failed', 75)).toBe(true);
    // A run lost with its node has no exit code: not one of those retried.
    expect(isRetriable(only, 'interrupted', null, true)).toBe(false);
    expect(isRetriable(only, 'failed', 1)).toBe(true);
    expect(isRetriable(only, 'failed', 2)).toBe(false);
    expect(isRetriable(only, 'failed', 255)).toBe(false);
    // No exit code (a signal, a run that could not start): not one of the codes.
    expect(isRetriable(only, 'failed', null)).toBe(false);
    // A timeout kills the run: it has no exit code, so it is not retried either.
    expect(isRetriable(only, 'timed_out', null)).toBe(false);
  });
});
