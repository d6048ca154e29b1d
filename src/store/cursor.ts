/**
 * The paging cursors the stores give out: the last row's position (a task's submission
 * sequence, a run's number) as a decimal string. Opaque to clients, who pass them back.
 */
import { SchedulerError } from '../core/errors.js';

/** The position a cursor names; invalid_request when it is not one a store gave out. */
export function decodeCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new SchedulerError(
      'invalid_request',
      `cursor: "${cursor}" is not a cursor this server gave out; pass back a nextCursor value unchanged`,
    );
  }
  return Number(cursor);
}
