/**
 * The errors a client raises from what the daemon answered (or did not): the typed error of
 * a failed answer, and the error for a daemon that does not answer at all. Both the plain
 * requests and the event stream raise them.
 */
import { SchedulerError, isErrorCode } from '../protocol/errors.js';

/** The SchedulerError a failed answer carries, or an internal error describing an answer not of our shape. */
export function errorFromAnswer(status: number, text: string): SchedulerError {
  const problem = (parseJson(text) as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (problem && isErrorCode(problem.code) && typeof problem.message === 'string') {
    return new SchedulerError(problem.code, problem.message);
  }
  return new SchedulerError('internal', `the daemon answered ${status}: ${text.slice(0, 200)}`);
}

/** The error for a daemon that does not answer at `baseUrl`, saying how to start one. */
export function unreachable(baseUrl: string, error: unknown): SchedulerError {
  const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new SchedulerError(
    'daemon_unreachable',
    `no scheduler daemon answers at ${baseUrl} (${why}). Start one with "scheduler daemon" ` +
      `(or "npm start" in the repository), or point --server or SCHEDULER_URL at a running one.`,
  );
}

/** The JSON value of `text`, or undefined when it is empty or not JSON. */
export function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
