/**
 * Every error leaves the server as `{"error":{"code","message"}}`. Our own errors carry
 * their code; Fastify's (validation, body parsing, size limits) are mapped onto the
 * registry; anything else is a 500 whose details go to the log, not to the client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SchedulerError, type ErrorCode } from '../core/errors.js';

/** What Retry-After says on a store_unavailable answer. */
export const storeRetryAfterSeconds = 5;

export function sendError(reply: FastifyReply, status: number, code: ErrorCode | string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/** Where the server logs requests that failed on its side. */
export interface RequestLog {
  error(details: object, message: string): void;
}

/** Fastify's setErrorHandler callback, logging unexpected failures to `log`. */
export function errorHandler(log: RequestLog) {
  return (error: FastifyError | SchedulerError | Error, request: FastifyRequest, reply: FastifyReply) =>
    handleError(error, request, reply, log);
}

function handleError(error: FastifyError | SchedulerError | Error, request: FastifyRequest, reply: FastifyReply, log: RequestLog) {
  if (error instanceof SchedulerError) {
    // A store that cannot write now (a full disk) may accept the same request shortly.
    if (error.code === 'store_unavailable') reply.header('retry-after', String(storeRetryAfterSeconds));
    return sendError(reply, error.httpStatus, error.code, error.message);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return sendError(reply, 400, 'invalid_request', describeValidation(fastifyError));
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendError(reply, 413, 'payload_too_large', `the request body is larger than the daemon accepts (${fastifyError.message})`);
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
