/**
 * One registry of error codes for the whole system. The server turns a SchedulerError into
 * `{"error":{"code","message"}}` with the code's HTTP status; the client rebuilds the same
 * error from that body; the CLI prints the message and exits with the code's exit status.
 */

/** Every error code, with the HTTP status the server answers and the CLI's exit status. */
export const errorCodes = {
  invalid_request: { httpStatus: 400, exitCode: 2 },
  unauthorized: { httpStatus: 401, exitCode: 3 },
  /** The token is known, but its role does not allow the request (docs/configuration.md, Tokens and roles). */
  forbidden: { httpStatus: 403, exitCode: 3 },
  not_found: { httpStatus: 404, exitCode: 4 },
  /** The path exists but not with this method; the answer's Allow header lists the methods it has. */
  method_not_allowed: { httpStatus: 405, exitCode: 2 },
  already_exists: { httpStatus: 409, exitCode: 5 },
  stop_refused: { httpStatus: 409, exitCode: 6 },
  not_running: { httpStatus: 409, exitCode: 6 },
  version_conflict: { httpStatus: 409, exitCode: 6 },
  /** The task's status does not allow it (pause a one-time task, run a finished one). */
  status_conflict: { httpStatus: 409, exitCode: 6 },
  /** If-Match named a version the task is no longer at: it changed since the client read it. */
  precondition_failed: { httpStatus: 412, exitCode: 6 },
  /**
   * A node's claim on a run lapsed (its lease expired, another node recorded the run): what
   * it writes about the run is refused. Only between nodes sharing a PostgreSQL store.
   */
  lease_lost: { httpStatus: 409, exitCode: 6 },
  payload_too_large: { httpStatus: 413, exitCode: 2 },
  /** Too many attempts from one address (logins, POST /api/session); Retry-After says when to try again. */
  rate_limited: { httpStatus: 429, exitCode: 7 },
  /** A request body that is not sent as JSON (Content-Type other than application/json, or none). */
  unsupported_media_type: { httpStatus: 415, exitCode: 2 },
  /** The store cannot write now (disk full, I/O error); the request may be retried later. */
  store_unavailable: { httpStatus: 503, exitCode: 7 },
  /** The database is damaged; an operator must restore it (see docs/durability.md). */
  store_corrupt: { httpStatus: 503, exitCode: 7 },
  shutting_down: { httpStatus: 503, exitCode: 7 },
  internal: { httpStatus: 500, exitCode: 1 },
  /** Client side only: no daemon answered at the address. */
  daemon_unreachable: { httpStatus: 503, exitCode: 7 },
  /** Client side only: the run a command followed (get --watch, logs --follow) did not succeed. */
  run_not_succeeded: { httpStatus: 500, exitCode: 8 },
} as const;

/** A code from the registry. */
export type ErrorCode = keyof typeof errorCodes;

/** An error the system expects and can explain to the user. */
export class SchedulerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SchedulerError';
  }

  /** The HTTP status the server answers with for this error. */
  get httpStatus(): number {
    return errorCodes[this.code].httpStatus;
  }

  /** The exit status of the CLI when it fails with this error. */
  get exitCode(): number {
    return errorCodes[this.code].exitCode;
  }
}

/** True for errors that say the store cannot serve now (full, failing, damaged), not that it refuses this request. */
export function isStoreFault(error: unknown): error is SchedulerError & { code: 'store_unavailable' | 'store_corrupt' } {
  return error instanceof SchedulerError && (error.code === 'store_unavailable' || error.code === 'store_corrupt');
}

/** True when `value` names a code of the registry. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}
