/**
 * Every error leaves the server as `{"error":{"code","message"}}`. Our own errors carry
 * their code; Fastify's (validation, body parsing, size limits) are mapped onto the
 * registry; anything else is a 500 whose details go to the log, not to the client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isStoreFault, SchedulerError, type ErrorCode } from '../core/errors.js';
import type { FaultReporter } from './ports.js';

/** What a 503 store_unavailable answer tells clients to wait before trying again. */
export const retryAfterSeconds = 5;
import { bodyRefused, takesBody } from './json-body.js';

export function sendError(reply: FastifyReply, status: number, code: ErrorCode | string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/** Where the server logs requests that failed on its side. */
export interface RequestLog {
  error(details: object, message: string): void;
}

/**
 * Fastify's setErrorHandler callback, logging unexpected failures to `log`. A store that
 * refuses requests (full disk, damaged file) is logged through `faults`, once per interval
 * and kind with a count, since every request would otherwise log the same failure.
 */
export function errorHandler(log: RequestLog, faults?: FaultReporter) {
  return (error: FastifyError | SchedulerError | Error, request: FastifyRequest, reply: FastifyReply) =>
    handleError(error, request, reply, log, faults);
}

function handleError(error: FastifyError | SchedulerError | Error, request: FastifyRequest, reply: FastifyReply, log: RequestLog, faults?: FaultReporter) {
  if (error instanceof SchedulerError) {
    if (isStoreFault(error)) {
      const details = { method: request.method, url: request.url, error: error.message };
      if (faults) faults.report(`requests: ${error.code}`, details, `requests fail: ${error.message}`);
      else log.error(details, `request failed: ${error.message}`);
    }
    // The store may take writes again soon (space freed); a damaged file needs an operator.
    if (error.code === 'store_unavailable') void reply.header('retry-after', String(retryAfterSeconds));
    return sendError(reply, error.httpStatus, error.code, error.message);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    if (fastifyError.validationContext === 'body' && request.body === undefined) {
      return sendError(reply, 400, 'invalid_request', 'the request needs a body: send it as JSON with the header "Content-Type: application/json"');
    }
    return sendError(reply, 400, 'invalid_request', describeValidation(fastifyError));
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendError(reply, 413, 'payload_too_large', `the request body is larger than the daemon accepts (${fastifyError.message})`);
  }
  if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    if (!takesBody(request)) return handleError(bodyRefused(request), request, reply, log, faults);
    const type = request.headers['content-type'];
    const sent = type === undefined ? 'it had no Content-Type' : `it had Content-Type: ${type}`;
    return sendError(reply, 415, 'unsupported_media_type', `the request body must be JSON, sent with the header "Content-Type: application/json" (${sent})`);
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return sendError(reply, status, 'invalid_request', fastifyError.message);
  }
  log.error({ err: error, method: request.method, url: request.url }, 'request failed');
  return sendError(reply, 500, 'internal', 'the daemon failed to handle the request; its log has the details');
}

/** "body/time must be string" -> "time: must be string". */
function describeValidation(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const field = first.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const missing = (first.params as { missingProperty?: string }).missingProperty;
  const extra = (first.params as { additionalProperty?: string }).additionalProperty;
  if (missing) return `${missing}: is required`;
  if (extra) return `${extra}: is not a known field${error.validationContext ? ` of the ${error.validationContext}` : ''}`;
  const where = field || error.validationContext || 'request';
  return `${where}: ${first.message ?? 'is invalid'}`;
}
