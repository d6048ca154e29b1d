/**
 * What a task does when runs collide or fail: its overlap rule and its retries. Pure: the
 * backoff's jitter is derived from the task, the fire and the attempt, so a restart does not
 * change when a retry is due.
 */
import { catchUpModes, type CatchUpMode, type CatchUpPolicy } from './catch-up.js';
import { parseDuration } from './duration.js';
import { SchedulerError } from './errors.js';
import { unitHash } from './unit-hash.js';

/**
 * When a fire comes while a run of the task is still executing:
 * - `skip`: the fire is recorded as skipped (the spec's behaviour, the default);
 * - `queue`: it runs right after the current run; at most one fire waits (later ones are skipped);
 * - `allow`: it runs at once, beside the others, up to `maxParallel` runs at once (then skipped);
 * - `replace`: the current run is killed (its whole process group) and the fire runs.
 */
export const overlapRules = ['skip', 'queue', 'allow', 'replace'] as const;
export type OverlapRule = (typeof overlapRules)[number];

/** Retries of a run that failed: attempt n+1 waits min(max, delay * 2^(n-1)), less up to half of it at random. */
export interface RetryPolicy {
  /** Attempts after the first. */
  max: number;
  delayMs: number;
  maxDelayMs: number;
  /** Retry only runs that exited with one of these codes; null: any failure (non-zero exit, signal, timeout). */
  onExitCodes: number[] | null;
}

export interface RunPolicy {
  overlap: OverlapRule;
  /** With overlap `allow`: the most runs of the task at once. */
  maxParallel?: number;
  retry: RetryPolicy | null;
  catchUp: CatchUpPolicy;
}

export const defaultCatchUp: CatchUpPolicy = Object.freeze({ mode: 'once', windowMs: null });
export const defaultRunPolicy: RunPolicy = Object.freeze({ overlap: 'skip', retry: null, catchUp: defaultCatchUp });

/** The policy fields of a submission. */
export interface PolicyInput {
  overlap?: string;
  retries?: number;
  retryDelay?: string;
  retryMaxDelay?: string;
  retryOn?: number[];
  catchUp?: string;
  catchUpWindow?: string;
  maxParallel?: number;
}

/** The most runs of one task at once under `allow`, when the task does not say. */
export const defaultMaxParallel = 4;
/** Beyond this, parallel runs of one task are better written as several tasks. */
const maxMaxParallel = 64;

/** The most retries a task may ask for: beyond it, a schedule is the better tool. */
export const maxRetries = 100;

/** Checks the policy fields of a submission; throws invalid_request naming the field. */
export function parseRunPolicy(input: PolicyInput): RunPolicy {
  const overlap = input.overlap ?? 'skip';
  if (!(overlapRules as readonly string[]).includes(overlap)) {
    invalid('overlap', `"${overlap}" is not an overlap rule: use skip, queue, allow or replace`);
  }
  const catchUp = parseCatchUp(input);
  const parallel = parseMaxParallel(input, overlap);
  const retries = input.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0 || retries > maxRetries) invalid('retries', `must be a whole number from 0 to ${maxRetries}`);
  if (retries === 0) {
    const stray = (['retryDelay', 'retryMaxDelay', 'retryOn'] as const).find((field) => input[field] !== undefined);
    if (stray) invalid(stray, 'only applies with retries of at least 1');
    return withParallel({ overlap: overlap as OverlapRule, retry: null, catchUp }, parallel);
  }
  const delayMs = parseDuration(input.retryDelay ?? '1s', 'retryDelay');
  const maxDelayMs = parseDuration(input.retryMaxDelay ?? '1h', 'retryMaxDelay');
  if (delayMs <= 0) invalid('retryDelay', 'must be longer than 0');
  if (maxDelayMs < delayMs) invalid('retryMaxDelay', `is shorter than retryDelay (${input.retryDelay ?? '1s'})`);
  const codes = input.retryOn ?? null;
  if (codes !== null && (codes.length === 0 || codes.some((code) => !Number.isInteger(code) || code < 1 || code > 255))) {
    invalid('retryOn', 'must list exit codes from 1 to 255');
  }
  return withParallel({ overlap: overlap as OverlapRule, retry: { max: retries, delayMs, maxDelayMs, onExitCodes: codes }, catchUp }, parallel);
}

/**
 * The policy with maxParallel added when there is one. Not a spread of `parallel` into the
 * literal: a spread makes each policy an object of a hidden class of its own in optimised
 * code (with-fields.ts), which every submit then serialises on a slow path.
 */
function withParallel(policy: RunPolicy, parallel: { maxParallel?: number }): RunPolicy {
  if (parallel.maxParallel !== undefined) policy.maxParallel = parallel.maxParallel;
  return policy;
}

function parseMaxParallel(input: PolicyInput, overlap: string): { maxParallel?: number } {
  if (overlap !== 'allow') {
    if (input.maxParallel !== undefined) invalid('maxParallel', 'only applies with overlap "allow"');
    return {};
  }
  const max = input.maxParallel ?? defaultMaxParallel;
  if (!Number.isInteger(max) || max < 2 || max > maxMaxParallel) invalid('maxParallel', `must be a whole number from 2 to ${maxMaxParallel}`);
  return { maxParallel: max };
}

function parseCatchUp(input: PolicyInput): CatchUpPolicy {
  const mode = input.catchUp ?? 'once';
  if (!(catchUpModes as readonly string[]).includes(mode)) invalid('catchUp', `"${mode}" is not a catch-up rule: use none, once or all`);
  const windowMs = input.catchUpWindow === undefined ? null : parseDuration(input.catchUpWindow, 'catchUpWindow');
  if (windowMs !== null && windowMs <= 0) invalid('catchUpWindow', 'must be longer than 0');
  return { mode: mode as CatchUpMode, windowMs };
}

/**
 * How long attempt `attempt` (2 for the first retry) of the run serving `fire` waits after
 * the failure: the exponential delay, less a deterministic share of up to half of it.
 */
export function retryDelay(retry: RetryPolicy, taskId: string, fire: number, attempt: number): number {
  const exponential = Math.min(retry.maxDelayMs, retry.delayMs * 2 ** (attempt - 2));
  return Math.round(exponential * (1 - 0.5 * unitHash(`${taskId}\n${fire}\n${attempt}`)));
}

/**
 * Whether a run that ended this way is retried, attempts allowing: a failure, a timeout, or
 * an interruption by the loss of its node (`nodeLost`); never a kill, nor an interruption by
 * its own daemon's stop.
 */
export function isRetriable(retry: RetryPolicy, outcome: string, exitCode: number | null, nodeLost = false): boolean {
  const lostWithItsNode = outcome === 'interrupted' && nodeLost;
  if (outcome !== 'failed' && outcome !== 'timed_out' && !lostWithItsNode) return false;
  if (retry.onExitCodes === null) return true;
  return exitCode !== null && retry.onExitCodes.includes(exitCode);
}

function invalid(field: string, message: string): never {
  throw new SchedulerError('invalid_request', `${field}: ${message}`);
}
