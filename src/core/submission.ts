/**
 * The rules a new task must follow. The HTTP schemas check the same shape up front; these
 * checks are the ones a schema cannot express (durations, byte sizes) and they also guard
 * callers that do not come through HTTP.
 */
import { formatDuration, parseDuration } from './duration.js';
import { SchedulerError } from './errors.js';
import { parseExecution, type ExecutionCapabilities, type ExecutionInput } from './execution-input.js';
import { defaultQueue } from './execution.js';
import { builtInInterpreters, defaultLanguage } from './interpreters.js';
import { parseRunPolicy, type PolicyInput } from './policy.js';
import { checkCronExpression, nextFireAfter, shortestGap, type Schedule } from './schedule.js';
import { taskTypes, type Task, type TaskDefinition, type TaskType } from './task.js';
import { canonicalTimeZone, parseTimeIn } from './zoned-time.js';

/** A task as submitted. */
export interface Submission extends PolicyInput, ExecutionInput {
  id: string;
  /** `delay` (once, `time` after submission), `cron` (every `time`, a duration or a cron expression) or `at` (once, at `time`). */
  type: string;
  time: string;
  script: string;
  /** Optional bound on each run's wall time (Go-style duration). */
  timeout?: string;
  /** IANA zone of a cron expression and of local times; the daemon's zone if absent. */
  timezone?: string;
  /** A recurring task fires from this time on (an interval's grid starts there). */
  start?: string;
  /** A recurring task fires at this time at the latest. */
  end?: string;
  /** Each fire is moved later by up to this (Go duration), the same for a fire after a restart. */
  jitter?: string;
  /** The script's language: bash (the default), sh, node, python, or one the daemon's config adds. */
  lang?: string;
}

/** Limits on what may be submitted. */
export interface SubmissionLimits {
  maxScriptBytes: number;
  /** The languages the daemon runs; all built-in ones when absent. */
  languages?: readonly string[];
  /** Its queues, user and sandbox; when absent: the default queue only, no sandbox, no other user. */
  execution?: ExecutionCapabilities;
}

/** What a caller that does not say gets: the default queue, and neither a sandbox nor another user. */
const noExtraCapabilities: ExecutionCapabilities = {
  queues: [defaultQueue],
  sandboxMode: 'optional',
  sandbox: { available: false, reason: 'this daemon has no sandbox' },
  checkUser: () => 'this daemon runs scripts as its own user only',
};

/** Task ids: 1 to 128 characters of letters, digits, dot, underscore and dash. */
export const taskIdPattern = '^[A-Za-z0-9._-]{1,128}$';
const taskIdRegExp = new RegExp(taskIdPattern);

/** The shortest interval of a cron task: shorter ones would only pile up skipped ticks. */
export const minCronIntervalMs = 100;

/** The task `definition` makes when it is submitted at `now`: due at its first fire, no run yet. */
export function newTask(definition: TaskDefinition, now: number): Task {
  // Field by field: `{ ...definition, createdAt, ... }` (a spread, then fields it lacks) takes
  // V8's slow path, 5 µs a task where this takes 0.1 µs (measured): a twentieth of a submit's CPU.
  const { id, type, time, schedule, timezone, script, lang, runTimeout, policy, execution, ...rest } = definition;
  // A field added to TaskDefinition and not copied here leaves `rest` non-empty: a type error.
  const nothingLeft: Record<string, never> = rest;
  void nothingLeft;
  const task: Task = {
    id,
    type,
    time,
    schedule,
    timezone,
    script,
    lang,
    policy,
    execution,
    createdAt: now,
    // parseSubmission refuses a schedule that never fires.
    state: { status: 'ToBeExecuted', nextRunAt: nextFireAfter(schedule, now - 1)! },
    lastStatusUpdated: now,
    version: 1,
    lastRun: 0,
  };
  if (runTimeout !== undefined) task.runTimeout = runTimeout;
  return task;
}

/**
 * Checks a submission made at `now` and returns the task definition it asks for; one that
 * names no zone gets `daemonZone` (the daemon's clock's).
 */
export function parseSubmission(input: Submission, limits: SubmissionLimits, now: number, daemonZone: string): TaskDefinition {
  if (!taskIdRegExp.test(input.id)) {
    invalid('id', `"${input.id}" is not a valid task id: use 1 to 128 letters, digits, ".", "_" or "-"`);
  }
  if (!(taskTypes as readonly string[]).includes(input.type)) {
    invalid('type', `"${input.type}" is not a task type: use "delay" (run once after a while), "cron" (run every interval, or on a cron expression) or "at" (run once at a time)`);
  }
  const type = input.type as TaskType;
  if (input.script.trim().length === 0) invalid('script', 'the script is empty');
  // A NUL byte cannot be passed to a shell: the run could only fail to start.
  if (input.script.includes('\0')) invalid('script', 'the script contains a NUL byte, which a shell script cannot hold');
  const scriptBytes = Buffer.byteLength(input.script);
  if (scriptBytes > limits.maxScriptBytes) {
    invalid('script', `the script is ${scriptBytes} bytes; the limit is ${limits.maxScriptBytes} bytes (daemon option --max-script-bytes)`);
  }
  const timezone = input.timezone === undefined ? daemonZone : canonicalTimeZone(input.timezone, 'timezone');
  const definition: TaskDefinition = {
    id: input.id,
    type,
    time: input.time,
    schedule: withJitter(parseSchedule(type, input, timezone, now), input, now),
    timezone,
    script: input.script,
    lang: parseLanguage(input.lang, limits),
    policy: parseRunPolicy(input),
    execution: parseExecution(input, limits.execution ?? noExtraCapabilities),
  };
  if (input.timeout !== undefined) {
    const ms = parseDuration(input.timeout, 'timeout');
    if (ms <= 0) invalid('timeout', `"${input.timeout}" would end every run at once; give a positive duration, or none`);
    definition.runTimeout = { text: input.timeout, ms };
  }
  return definition;
}

/** The schedule a submission asks for, refused when it would never fire. */
function parseSchedule(type: TaskType, input: Submission, timezone: string, now: number): Schedule {
  const start = input.start === undefined ? null : parseTimeIn(input.start, timezone, 'start');
  const end = input.end === undefined ? null : parseTimeIn(input.end, timezone, 'end');
  if (type !== 'cron' && (start !== null || end !== null)) invalid(start !== null ? 'start' : 'end', `only a recurring (cron) task has a start or an end; ${type === 'at' ? 'an' : 'a'} ${type} task runs once`);
  if (start !== null && end !== null && end < start) invalid('end', `${input.end} is before the start, ${input.start}`);
  let schedule: Schedule;
  switch (type) {
    case 'delay':
      schedule = { kind: 'once', at: now + parseDuration(input.time, 'time') };
      break;
    case 'at':
      schedule = { kind: 'once', at: parseTimeIn(input.time, timezone, 'time') };
      if (schedule.at <= now) invalid('time', `${new Date(schedule.at).toISOString()} has passed; give a time in the future`);
      break;
    case 'cron':
      schedule = looksLikeDuration(input.time) ? intervalSchedule(input.time, start, end, now) : calendarSchedule(input.time, timezone, start, end);
      break;
  }
  // A fire at `now` itself counts (a delay of 0 runs at once).
  if (nextFireAfter(schedule, now - 1) === null) {
    if (end !== null) invalid('end', `the schedule ends before it would first fire (${input.end}); nothing would run`);
    invalid('time', `"${input.time}" never fires after now; nothing would run`);
  }
  return schedule;
}

/** The schedule with the submission's jitter, refused when it could reorder fires. */
function withJitter(schedule: Schedule, input: Submission, now: number): Schedule {
  if (input.jitter === undefined) return schedule;
  const ms = parseDuration(input.jitter, 'jitter');
  if (ms === 0) return schedule;
  // Fires must stay in order: a fire moved later must not pass the next one.
  const gap = shortestGap(schedule, now, 50);
  if (ms >= gap) invalid('jitter', `${input.jitter} is not shorter than the time between two fires (${formatDuration(gap)})`);
  return { ...schedule, jitter: { ms, seed: input.id } };
}

/** `-time=10s`: the spec's fixed interval, first fire one interval after submission, or at `start`. */
function intervalSchedule(time: string, start: number | null, end: number | null, now: number): Schedule {
  const everyMs = parseDuration(time, 'time');
  if (everyMs < minCronIntervalMs) invalid('time', `a cron task's interval must be at least ${minCronIntervalMs}ms, got "${time}"`);
  return { kind: 'interval', everyMs, first: start ?? now + everyMs, end };
}

function calendarSchedule(expression: string, timezone: string, start: number | null, end: number | null): Schedule {
  checkCronExpression(expression, timezone, 'time');
  return { kind: 'calendar', expression, timezone, start, end };
}

/** A Go duration ("10s", "1h30m") rather than a cron expression ("*\/10 * * * *", "@hourly"). */
export function looksLikeDuration(time: string): boolean {
  return /^[0-9.]+[a-zµ]/i.test(time.trim()) && !/\s/.test(time.trim());
}

function parseLanguage(lang: string | undefined, limits: SubmissionLimits): string {
  const languages = limits.languages ?? Object.keys(builtInInterpreters);
  const chosen = lang ?? defaultLanguage;
  if (!languages.includes(chosen)) {
    invalid('lang', `"${chosen}" is not a language this daemon runs (${languages.join(', ')}); the daemon's --config file can add one`);
  }
  return chosen;
}

function invalid(field: string, message: string): never {
  throw new SchedulerError('invalid_request', `${field}: ${message}`);
}
