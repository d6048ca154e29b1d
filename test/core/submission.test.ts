import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { minCronIntervalMs, parseSubmission, type Submission } from '../../src/core/submission.js';

const limits = { maxScriptBytes: 64 };
const valid: Submission = { id: 'do_calc', type: 'delay', time: '1m', script: 'sleep 10s;echo $((1+2))' };

function refusal(input: Submission, maxScriptBytes = limits.maxScriptBytes): SchedulerError {
  try {
    parseSubmission(input, { maxScriptBytes });
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('invalid_request');
    return error as SchedulerError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('parseSubmission', () => {
  it('turns a valid submission into a task definition', () => {
    expect(parseSubmission(valid, limits)).toEqual({
      id: 'do_calc',
      type: 'delay',
      time: '1m',
      intervalMs: 60_000,
      script: 'sleep 10s;echo $((1+2))',
    });
    expect(parseSubmission({ ...valid, id: 'print_ls_per_10s', type: 'cron', time: '10s', script: 'ls' }, limits)).toEqual({
      id: 'print_ls_per_10s',
      type: 'cron',
      time: '10s',
      intervalMs: 10_000,
      script: 'ls',
    });
  });

  describe('timeout', () => {
    it('is absent unless given, and parsed like time when given', () => {
      expect(parseSubmission(valid, limits)).not.toHaveProperty('runTimeout');
      expect(parseSubmission({ ...valid, timeout: '1m30s' }, limits).runTimeout).toEqual({ text: '1m30s', ms: 90_000 });
    });

    it.each(['0', '0s', 'soon', '-5s', ''])('refuses %j, naming the field', (timeout) => {
      expect(refusal({ ...valid, timeout }).message).toMatch(/^timeout: /);
    });
  });

  describe('id', () => {
    it.each(['a', 'A-Z_a-z.0-9', 'x'.repeat(128), '...', '-leading-dash'])('accepts %j', (id) => {
      expect(parseSubmission({ ...valid, id }, limits).id).toBe(id);
    });

    it.each(['', 'x'.repeat(129), 'has space', 'a/b', '../etc', 'tab\there', 'é', 'semi;colon', 'new\nline'])(
      'refuses %j',
      (id) => {
        expect(refusal({ ...valid, id }).message).toMatch(/^id: .*not a valid task id/s);
      },
    );
  });

  describe('type', () => {
    it.each(['', 'Delay', 'CRON', 'interval', 'once'])('refuses %j', (type) => {
      expect(refusal({ ...valid, type }).message).toMatch(/^type: .*not a task type/);
    });
  });

  describe('time', () => {
    it('refuses a bad duration, naming the field', () => {
      expect(refusal({ ...valid, time: '10' }).message).toMatch(/^time: "10" is not a valid duration/);
      expect(refusal({ ...valid, time: '1d' }).message).toMatch(/^time: /);
    });

    it(`refuses a cron interval below ${minCronIntervalMs}ms and accepts it at the limit`, () => {
      expect(minCronIntervalMs).toBe(100);
      expect(refusal({ ...valid, type: 'cron', time: '99ms' }).message).toMatch(/^time: .*at least 100ms/);
      expect(refusal({ ...valid, type: 'cron', time: '0' }).message).toMatch(/^time: /);
      expect(parseSubmission({ ...valid, type: 'cron', time: '100ms' }, limits).intervalMs).toBe(100);
    });

    it('lets a delay task run right away or after a short delay', () => {
      expect(parseSubmission({ ...valid, type: 'delay', time: '0' }, limits).intervalMs).toBe(0);
      expect(parseSubmission({ ...valid, type: 'delay', time: '5ms' }, limits).intervalMs).toBe(5);
    });
  });

  describe('script', () => {
    it.each(['', ' ', '\n\t  \n'])('refuses the blank script %j', (script) => {
      expect(refusal({ ...valid, script }).message).toMatch(/^script: the script is empty/);
    });

    it('refuses a NUL byte, which no shell can be given', () => {
      expect(refusal({ ...valid, script: 'echo a\u0000b' }).message).toMatch(/^script: .*NUL byte/);
    });

    it('counts the limit in bytes, not characters', () => {
      // "é" is two bytes in UTF-8: five of them are 10 bytes, six are 12.
      expect(parseSubmission({ ...valid, script: 'é'.repeat(5) }, { maxScriptBytes: 10 }).script).toBe('ééééé');
      const message = refusal({ ...valid, script: 'é'.repeat(6) }, 10).message;
      expect(message).toMatch(/^script: the script is 12 bytes; the limit is 10 bytes/);
      // A 4-byte character: "😀" counts 4.
      expect(refusal({ ...valid, script: 'echo 😀😀' }, 12).message).toMatch(/13 bytes/);
      expect(parseSubmission({ ...valid, script: 'echo 😀😀' }, { maxScriptBytes: 13 }).script).toBe('echo 😀😀');
    });

    it('accepts a script of exactly the limit and refuses one byte more', () => {
      expect(parseSubmission({ ...valid, script: 'x'.repeat(64) }, limits).script).toHaveLength(64);
      expect(refusal({ ...valid, script: 'x'.repeat(65) }).message).toMatch(/65 bytes; the limit is 64/);
    });
  });
});
