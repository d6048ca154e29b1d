/**
 * The errors of the API as both ends know them: the registry of codes (each with its HTTP
 * status and the CLI's exit status) and the typed error built from a code. They are defined
 * in core/, which raises them, and published here because they are the wire's vocabulary: a
 * client rebuilds the server's error from `{"error":{"code","message"}}`, and depends on the
 * protocol for that, not on the scheduler's logic.
 */
export { errorCodes, isErrorCode, SchedulerError, type ErrorCode } from '../core/errors.js';
