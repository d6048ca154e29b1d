/**
 * The rules a new task must follow. The HTTP schemas check the same shape up front; these
 * checks are the ones a schema cannot express (durations, byte sizes) and they also guard
 * callers that do not come through HTTP.
 */
import { parseDuration } from './duration.js';
import { SchedulerError } from './errors.js';
import { taskTypes, type TaskDefinition, type TaskType } from './task.js';

/** A task as submitted. */
export interface Submission {
  id: string;
  type: string;
  time: string;
  script: string;
  /** Optional bound on each run's wall time (Go-style duration). */
  timeout?: string;
}

/** Limits on what may be submitted. */
export interface SubmissionLimits {
  maxScriptBytes: number;
}

/** Task ids: 1 to 128 characters of letters, digits, dot, underscore and dash. */
export const taskIdPattern = '^[A-Za-z0-9._-]{1,128}$';
const taskIdRegExp = new RegExp(taskIdPattern);

/** The shortest interval of a cron task: shorter ones would only pile up skipped ticks. */
export const minCronIntervalMs = 100;

/** Checks a submission and returns the task definition it asks for. */
export function parseSubmission(input: Submission, limits: SubmissionLimits): TaskDefinition {
  if (!taskIdRegExp.test(input.id)) {
    invalid('id', `"${input.id}" is not a valid task id: use 1 to 128 letters, digits, ".", "_" or "-"`);
  }
  if (!(taskTypes as readonly string[]).includes(input.type)) {
    invalid('type', `"${input.type}" is not a task type: use "delay" (run once) or "cron" (run every interval)`);
  }
  const type = input.type as TaskType;
  const intervalMs = parseDuration(input.time, 'time');
  if (type === 'cron' && intervalMs < minCronIntervalMs) {
    invalid('time', `a cron task's interval must be at least ${minCronIntervalMs}ms, got "${input.time}"`);
  }
  if (input.script.trim().length === 0) invalid('script', 'the script is empty');
  // A NUL byte cannot be passed to a shell: the run could only fail to start.
  if (input.script.includes('\0')) invalid('script', 'the script contains a NUL byte, which a shell script cannot hold');
  const scriptBytes = Buffer.byteLength(input.script);
  if (scriptBytes > limits.maxScriptBytes) {
    invalid('script', `the script is ${scriptBytes} bytes; the limit is ${limits.maxScriptBytes} bytes (daemon option --max-script-bytes)`);
  }
  const definition: TaskDefinition = { id: input.id, type, time: input.time, intervalMs, script: input.script };
  if (input.timeout !== undefined) {
    const ms = parseDuration(input.timeout, 'timeout');
    if (ms <= 0) invalid('timeout', `"${input.timeout}" would end every run at once; give a positive duration, or none`);
    definition.runTimeout = { text: input.timeout, ms };
  }
  return definition;
}

function invalid(field: string, message: string): never {
  throw new SchedulerError('invalid_request', `${field}: ${message}`);
}
