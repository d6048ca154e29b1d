/**
 * The paging cursors the stores give out: the last row's position (a task's submission
 * sequence, a run's number) as a decimal string; with a prefix, the last task's id; across
 * tasks, the last run's fire time, number and task. Opaque to clients, who pass them back.
 */
import { SchedulerError } from '../core/errors.js';

function notOurs(cursor: string, detail = ''): SchedulerError {
  return new SchedulerError(
    'invalid_request',
    `cursor: "${cursor}" is not a cursor this server gave out${detail}; pass back a nextCursor value unchanged, with the same filters`,
  );
}

/** The position a cursor names; invalid_request when it is not one a store gave out. */
export function decodeCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw notOurs(cursor);
  return Number(cursor);
}

/**
 * The ids that start with `prefix` are those at or after it and before `below`: the prefix
 * with its last character raised by one (ids are ASCII, where character order is byte order).
 */
export function prefixRange(prefix: string): { from: string; below: string } {
  if (prefix.length === 0) throw new SchedulerError('invalid_request', 'prefix: give at least one character, or leave it out to list every task');
  const last = prefix.charCodeAt(prefix.length - 1);
  return { from: prefix, below: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}

/** The id a cursor of a listing by prefix names: one that starts with the prefix, as every id such a page ends with does. */
export function decodeIdCursor(cursor: string, prefix: string): string {
  if (!cursor.startsWith(prefix)) throw notOurs(cursor, ` for the prefix "${prefix}"`);
  return cursor;
}

/** Where a page of runs across tasks ended: its last run. */
export interface RunPosition {
  scheduledAt: number;
  taskId: string;
  run: number;
}

export function encodeRunCursor(position: RunPosition): string {
  return `${position.scheduledAt}.${position.run}.${position.taskId}`;
}

export function decodeRunCursor(cursor: string): RunPosition {
  const match = /^(\d{1,15})\.(\d{1,10})\.(.+)$/.exec(cursor);
  const run = match ? Number(match[2]) : 0;
  // Run numbers are 32-bit on PostgreSQL; a larger one was never given out.
  if (!match || run > 2 ** 31 - 1) throw notOurs(cursor);
  return { scheduledAt: Number(match[1]), run, taskId: match[3]! };
}

/**
 * Where a page of runs across tasks ends, as one position: the cursor's, or `until` (no run
 * of an earlier fire is at or after it: task ids are never empty), whichever comes first.
 * One bound, so that it is where the index range starts (a second would be a filter).
 */
export function allRunsBefore(params: { cursor?: string; until?: number }): RunPosition {
  const cursor: RunPosition = params.cursor === undefined ? { scheduledAt: Number.MAX_SAFE_INTEGER, taskId: '', run: 0 } : decodeRunCursor(params.cursor);
  return params.until !== undefined && params.until <= cursor.scheduledAt ? { scheduledAt: params.until, taskId: '', run: 0 } : cursor;
}
