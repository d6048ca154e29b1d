import { defaultExecution } from '../../src/core/execution.js';
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { minCronIntervalMs, newTask, parseSubmission as parseAt, type Submission } from '../../src/core/submission.js';
import type { TaskDefinition } from '../../src/core/task.js';

/** Submissions are made at NOW, a Wednesday, unless a test says otherwise. */
const NOW = Date.parse('2026-11-25T10:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

const limits = { maxScriptBytes: 64 };
/** The daemon's zone, passed in: not UTC, so that a local time read in UTC (or in the host's zone) shows. */
const daemonZone = 'America/New_York';
const valid: Submission = { id: 'do_calc', type: 'delay', time: '1m', script: 'sleep 10s;echo $((1+2))' };

function parseSubmission(input: Submission, submissionLimits = limits, now = NOW): TaskDefinition {
  return parseAt(input, submissionLimits, now, daemonZone);
}

function refusal(input: Submission, maxScriptBytes = limits.maxScriptBytes, now = NOW): SchedulerError {
  try {
    parseAt(input, { maxScriptBytes }, now, daemonZone);
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
      schedule: { kind: 'once', at: NOW + MIN },
      timezone: daemonZone,
      script: 'sleep 10s;echo $((1+2))',
      lang: 'bash',
      execution: defaultExecution,
      policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
    });
    expect(parseSubmission({ ...valid, id: 'print_ls_per_10s', type: 'cron', time: '10s', script: 'ls' }, limits)).toEqual({
      id: 'print_ls_per_10s',
      type: 'cron',
      time: '10s',
      schedule: { kind: 'interval', everyMs: 10_000, first: NOW + 10_000, end: null },
      timezone: daemonZone,
      script: 'ls',
      lang: 'bash',
      execution: defaultExecution,
      policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
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
      expect(parseSubmission({ ...valid, type: 'cron', time: '100ms' }, limits).schedule).toEqual({ kind: 'interval', everyMs: 100, first: NOW + 100, end: null });
    });

    it('lets a delay task run after a short delay', () => {
      expect(parseSubmission({ ...valid, type: 'delay', time: '5ms' }, limits).schedule).toEqual({ kind: 'once', at: NOW + 5 });
      expect(parseSubmission({ ...valid, type: 'delay', time: '1ms' }, limits).schedule).toEqual({ kind: 'once', at: NOW + 1 });
    });

    it('lets a delay task run right away', () => {
      expect(parseSubmission({ ...valid, type: 'delay', time: '0' }, limits).schedule).toEqual({ kind: 'once', at: NOW });
    });
  });

  describe('schedule: the spec’s delay and cron, unchanged', () => {
    it('delay: once, `time` after submission', () => {
      expect(parseSubmission({ ...valid, type: 'delay', time: '1h30m' }).schedule).toEqual({ kind: 'once', at: NOW + 90 * MIN });
      expect(parseSubmission({ ...valid, type: 'delay', time: '10s' }, limits, NOW + 7).schedule).toEqual({ kind: 'once', at: NOW + 10 * SEC + 7 });
    });

    it('cron with a duration: every `time`, the first fire one interval after submission, no end', () => {
      expect(parseSubmission({ ...valid, type: 'cron', time: '10s' }, limits, NOW + 250).schedule).toEqual({
        kind: 'interval',
        everyMs: 10 * SEC,
        first: NOW + 250 + 10 * SEC,
        end: null,
      });
      expect(parseSubmission({ ...valid, type: 'cron', time: '1h30m' }).schedule).toEqual({ kind: 'interval', everyMs: 90 * MIN, first: NOW + 90 * MIN, end: null });
    });

    it('the time is kept as written, and the zone is the daemon’s when none is given', () => {
      const definition = parseSubmission({ ...valid, type: 'cron', time: '1h30m' });
      expect(definition.time).toBe('1h30m');
      expect(definition.timezone).toBe(daemonZone);
      expect(definition).not.toHaveProperty('intervalMs');
    });
  });

  describe('schedule: cron, a duration or a cron expression', () => {
    it.each([
      ['10s', 'interval'],
      ['1h30m', 'interval'],
      ['1.5h', 'interval'],
      ['100ms', 'interval'],
      ['*/10 * * * * *', 'calendar'],
      ['0 9 * * MON-FRI', 'calendar'],
      ['0 0 12 1 1 * 2028', 'calendar'],
      ['@hourly', 'calendar'],
      ['@daily', 'calendar'],
      ['0 0 L * *', 'calendar'],
      ['0 9 15W * *', 'calendar'],
      ['0 10 * * MON#2', 'calendar'],
    ])('%j is read as a %s schedule', (time, kind) => {
      expect(parseSubmission({ ...valid, type: 'cron', time, timezone: 'UTC' }).schedule.kind).toBe(kind);
    });

    it('a cron expression is a calendar schedule in the zone given, with no bounds', () => {
      const definition = parseSubmission({ ...valid, type: 'cron', time: '0 9 * * MON-FRI', timezone: 'Europe/Berlin' });
      expect(definition.schedule).toEqual({ kind: 'calendar', expression: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', start: null, end: null });
      expect(definition.timezone).toBe('Europe/Berlin');
      expect(definition.time).toBe('0 9 * * MON-FRI');
    });

    it('a cron expression without a zone is read in the daemon’s zone', () => {
      expect(parseSubmission({ ...valid, type: 'cron', time: '@hourly' }).schedule).toEqual({
        kind: 'calendar',
        expression: '@hourly',
        timezone: daemonZone,
        start: null,
        end: null,
      });
    });

    it.each(['0 25 * * *', '* * * *', '*/10 * * * * * * *', '@fortnightly', 'every monday', '10'])(
      'refuses %j as a cron expression, naming the field',
      (time) => {
        const message = refusal({ ...valid, type: 'cron', time, timezone: 'UTC' }).message;
        expect(message).toMatch(/^time: ".*" is not a cron expression/);
        expect(message).toContain(`"${time}"`);
      },
    );

    it('a duration too short is still refused as an interval, not read as an expression', () => {
      expect(refusal({ ...valid, type: 'cron', time: '99ms' }).message).toMatch(/^time: a cron task's interval must be at least 100ms, got "99ms"/);
      expect(refusal({ ...valid, type: 'cron', time: '0.05s' }).message).toMatch(/at least 100ms/);
      // A bad duration is refused as a duration.
      expect(refusal({ ...valid, type: 'cron', time: '10x' }).message).toMatch(/^time: "10x" is not a valid duration/);
    });

    it('a delay task’s time is always a duration: an expression is refused as one', () => {
      expect(refusal({ ...valid, type: 'delay', time: '*/5 * * * *' }).message).toMatch(/^time: ".*" is not a valid duration/);
      expect(refusal({ ...valid, type: 'delay', time: '@hourly' }).message).toMatch(/^time: "@hourly" is not a valid duration/);
    });
  });

  describe('schedule: at', () => {
    it('runs once at the time given, read in the zone given', () => {
      expect(parseSubmission({ ...valid, type: 'at', time: '2026-12-01T09:30:00Z' }).schedule).toEqual({ kind: 'once', at: Date.parse('2026-12-01T09:30:00Z') });
      expect(parseSubmission({ ...valid, type: 'at', time: '2026-12-01 09:30', timezone: 'Europe/Berlin' }).schedule).toEqual({
        kind: 'once',
        at: Date.parse('2026-12-01T08:30:00Z'),
      });
      expect(parseSubmission({ ...valid, type: 'at', time: '2026-12-01 09:30', timezone: 'America/New_York' })).toMatchObject({
        type: 'at',
        time: '2026-12-01 09:30',
        timezone: 'America/New_York',
        schedule: { kind: 'once', at: Date.parse('2026-12-01T14:30:00Z') },
      });
    });

    it('a local time without a zone is read in the daemon’s zone', () => {
      const definition = parseSubmission({ ...valid, type: 'at', time: '2026-12-01 09:30' });
      expect(definition.timezone).toBe(daemonZone);
      // 09:30 in New York (EST, UTC-5), whatever zone the host runs in.
      expect(definition.schedule).toEqual({ kind: 'once', at: Date.parse('2026-12-01T14:30:00Z') });
    });

    it('accepts a time 1ms in the future; refuses now and the past, naming the field', () => {
      expect(parseSubmission({ ...valid, type: 'at', time: '2026-11-25T10:00:00.001Z' }).schedule).toEqual({ kind: 'once', at: NOW + 1 });
      expect(refusal({ ...valid, type: 'at', time: '2026-11-25T10:00:00Z' }).message).toBe('time: 2026-11-25T10:00:00.000Z has passed; give a time in the future');
      expect(refusal({ ...valid, type: 'at', time: '2026-11-25T09:59:59.999Z' }).message).toMatch(/^time: 2026-11-25T09:59:59.999Z has passed/);
      expect(refusal({ ...valid, type: 'at', time: '2020-01-01' }).message).toMatch(/^time: .* has passed/);
      // 10:30 in Berlin is 09:30Z: passed, though 10:30 UTC would not be.
      expect(refusal({ ...valid, type: 'at', time: '2026-11-25 10:30', timezone: 'Europe/Berlin' }).message).toMatch(/^time: 2026-11-25T09:30:00.000Z has passed/);
      expect(parseSubmission({ ...valid, type: 'at', time: '2026-11-25 10:30', timezone: 'UTC' }).schedule).toEqual({ kind: 'once', at: NOW + 30 * MIN });
    });

    it.each(['in an hour', '1h', '2026-02-30 10:00', '2026-12-01 25:00'])('refuses %j, which is not a time', (time) => {
      expect(refusal({ ...valid, type: 'at', time, timezone: 'UTC' }).message).toMatch(/^time: ".*" is not a time/);
    });
  });

  describe('schedule: timezone', () => {
    it.each(['Mars/Olympus_Mons', 'Europe/Berlim', 'CET+1 nonsense'])('refuses %j, naming the field', (timezone) => {
      for (const input of [
        { ...valid, timezone },
        { ...valid, type: 'cron', time: '@hourly', timezone },
        { ...valid, type: 'at', time: '2026-12-01 09:30', timezone },
      ]) {
        const message = refusal(input).message;
        expect(message).toMatch(/^timezone: ".*" is not a time zone/);
        expect(message).toContain(`"${timezone}"`);
      }
    });

    it('is kept on a delay task too', () => {
      expect(parseSubmission({ ...valid, timezone: 'Asia/Tokyo' }).timezone).toBe('Asia/Tokyo');
    });
  });

  describe('schedule: start and end', () => {
    it('an interval with a start: its grid starts there', () => {
      const start = '2026-12-01T09:00:00Z';
      expect(parseSubmission({ ...valid, type: 'cron', time: '1h', start }).schedule).toEqual({
        kind: 'interval',
        everyMs: HOUR,
        first: Date.parse(start),
        end: null,
      });
    });

    it('an interval with an end: fires until then, the end included', () => {
      expect(parseSubmission({ ...valid, type: 'cron', time: '10m', end: '2026-11-25T11:00:00Z' }).schedule).toEqual({
        kind: 'interval',
        everyMs: 10 * MIN,
        first: NOW + 10 * MIN,
        end: NOW + HOUR,
      });
      // The end at the first fire: it fires once.
      expect(parseSubmission({ ...valid, type: 'cron', time: '10m', end: '2026-11-25T10:10:00Z' }).schedule).toMatchObject({ end: NOW + 10 * MIN });
    });

    it('local start and end are read in the task’s zone', () => {
      const definition = parseSubmission({ ...valid, type: 'cron', time: '1h', timezone: 'Europe/Berlin', start: '2026-12-01 09:00', end: '2026-12-02' });
      expect(definition.schedule).toEqual({
        kind: 'interval',
        everyMs: HOUR,
        first: Date.parse('2026-12-01T08:00:00Z'),
        end: Date.parse('2026-12-01T23:00:00Z'),
      });
    });

    it('a cron expression with start and end: a calendar schedule bounded by them', () => {
      const definition = parseSubmission({
        ...valid,
        type: 'cron',
        time: '0 9 * * *',
        timezone: 'America/New_York',
        start: '2026-12-01',
        end: '2026-12-31 23:59',
      });
      expect(definition.schedule).toEqual({
        kind: 'calendar',
        expression: '0 9 * * *',
        timezone: 'America/New_York',
        start: Date.parse('2026-12-01T05:00:00Z'),
        end: Date.parse('2027-01-01T04:59:00Z'),
      });
    });

    it('a start already passed is accepted (an interval’s grid is anchored there)', () => {
      expect(parseSubmission({ ...valid, type: 'cron', time: '1h', start: '2026-11-25T09:30:00Z' }).schedule).toEqual({
        kind: 'interval',
        everyMs: HOUR,
        first: NOW - 30 * MIN,
        end: null,
      });
    });

    it('an end equal to the start is accepted when something fires then', () => {
      const at = '2026-12-01T09:00:00Z';
      expect(parseSubmission({ ...valid, type: 'cron', time: '1h', start: at, end: at }).schedule).toMatchObject({ first: Date.parse(at), end: Date.parse(at) });
    });

    it.each([
      ['delay', '1m', 'start'],
      ['delay', '1m', 'end'],
      ['at', '2026-12-01T09:30:00Z', 'start'],
      ['at', '2026-12-01T09:30:00Z', 'end'],
    ])('a %s task refuses a %s: it runs once', (type, time, field) => {
      const message = refusal({ ...valid, type, time, [field]: '2026-12-01T00:00:00Z' }).message;
      const article = type === 'at' ? 'an' : 'a';
      expect(message).toBe(`${field}: only a recurring (cron) task has a start or an end; ${article} ${type} task runs once`);
    });

    it('a one-time task given both is refused naming start', () => {
      expect(refusal({ ...valid, start: '2026-12-01T00:00:00Z', end: '2026-12-02T00:00:00Z' }).message).toMatch(/^start: only a recurring/);
    });

    it('refuses an end before the start', () => {
      const message = refusal({ ...valid, type: 'cron', time: '1h', start: '2026-12-02T00:00:00Z', end: '2026-12-01T00:00:00Z' }).message;
      expect(message).toBe('end: 2026-12-01T00:00:00Z is before the start, 2026-12-02T00:00:00Z');
      expect(refusal({ ...valid, type: 'cron', time: '@daily', start: '2026-12-02', end: '2026-12-01', timezone: 'UTC' }).message).toMatch(/^end: .* is before the start/);
      // One millisecond before.
      expect(refusal({ ...valid, type: 'cron', time: '1h', start: '2026-12-02T00:00:00.001Z', end: '2026-12-02T00:00:00Z' }).message).toMatch(/^end: .* is before the start/);
    });

    it('refuses an end before the first fire: nothing would run', () => {
      // Every hour from now: the first fire is at 11:00Z.
      const message = refusal({ ...valid, type: 'cron', time: '1h', end: '2026-11-25T10:59:59.999Z' }).message;
      expect(message).toBe('end: the schedule ends before it would first fire (2026-11-25T10:59:59.999Z); nothing would run');
      // An end already passed.
      expect(refusal({ ...valid, type: 'cron', time: '10s', end: '2026-11-24T00:00:00Z' }).message).toMatch(/^end: the schedule ends before it would first fire/);
      // 09:00 in Berlin is 08:00Z: the next one is tomorrow, after this end.
      expect(refusal({ ...valid, type: 'cron', time: '0 9 * * *', timezone: 'Europe/Berlin', end: '2026-11-25 23:00' }).message).toMatch(/^end: the schedule ends before/);
      // A start and end between two fires of an expression.
      expect(refusal({ ...valid, type: 'cron', time: '0 * * * *', timezone: 'UTC', start: '2026-11-25 12:01', end: '2026-11-25 12:59' }).message).toMatch(/^end: the schedule ends before/);
    });

    it('refuses a start or end that is not a time, naming the field', () => {
      expect(refusal({ ...valid, type: 'cron', time: '1h', start: 'tomorrow' }).message).toMatch(/^start: "tomorrow" is not a time/);
      expect(refusal({ ...valid, type: 'cron', time: '1h', end: '2026-02-30' }).message).toMatch(/^end: "2026-02-30" is not a time/);
    });
  });

  it('refuses a cron expression that never fires, naming time (no end was given)', () => {
    const message = refusal({ ...valid, type: 'cron', time: '0 0 12 1 1 * 2025', timezone: 'UTC' }).message;
    expect(message).toMatch(/^time: /);
    expect(message).not.toContain('undefined');
  });

  it('refuses a cron expression that never fires', () => {
    expect(refusal({ ...valid, type: 'cron', time: '0 0 12 1 1 * 2025', timezone: 'UTC' }).message).toMatch(/nothing would run/);
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

describe('newTask', () => {
  it('is the definition with a first state, version 1 and no run yet; a run timeout kept when there is one', () => {
    for (const input of [
      { id: 'plain', type: 'delay', time: '1h', script: 'true' },
      { id: 'bounded', type: 'cron', time: '1m', script: 'true', timeout: '30s' },
    ] as Submission[]) {
      const definition = parseSubmission(input);
      const task = newTask(definition, NOW);
      expect(task).toStrictEqual({
        ...definition,
        createdAt: NOW,
        state: { status: 'ToBeExecuted', nextRunAt: input.type === 'delay' ? NOW + 3_600_000 : NOW + 60_000 },
        lastStatusUpdated: NOW,
        version: 1,
        lastRun: 0,
      });
      expect('runTimeout' in task).toBe(input.timeout !== undefined);
    }
  });
});
