/**
 * Request bodies are JSON and nothing else. Fastify would also parse text/plain bodies into
 * strings, so JSON sent as text/plain failed validation with a misleading "body: must be
 * object"; without that parser such a body is refused as 415 (see error-handler.ts). A route
 * that takes no body refuses one rather than ignoring it.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';

export function acceptJsonBodiesOnly(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  // Fastify's own parser, for its defences against prototype poisoning; it drops the reason
  // JSON.parse gave, which the client needs to find its mistake, so a failure is said again.
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    // An empty body with a JSON Content-Type is no body (some clients always send the header).
    if (text.trim().length === 0) return done(null, undefined);
    parse(request, text, (error: Error | null, value?: unknown) => {
      if ((error as FastifyError | null)?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return done(new SchedulerError('invalid_request', `the body is not valid JSON: ${syntaxError(text)}`), undefined);
      done(error, value);
    });
  });
  app.addHook('preValidation', (request, _reply, done) => {
    // No route (404, 405): the answer says so, whatever the body.
    done(!request.is404 && request.body !== undefined && !takesBody(request) ? bodyRefused(request) : undefined);
  });
}

/** Whether the route of `request` takes a body (it declares one in its schema). */
export function takesBody(request: FastifyRequest): boolean {
  return (request.routeOptions?.schema as { body?: unknown } | undefined)?.body !== undefined;
}

/** The error for a body sent to a route that takes none. */
export function bodyRefused(request: FastifyRequest): SchedulerError {
  const route = (request.routeOptions?.url ?? request.url.split('?')[0]!).replace(/:(\w+)/g, '{$1}');
  return new SchedulerError('invalid_request', `${request.method} ${route} takes no body; send the request without one`);
}

function syntaxError(text: string): string {
  try {
    JSON.parse(text);
    return 'it has a "__proto__" or "constructor.prototype" key, which is refused';
  } catch (error) {
    return (error as Error).message;
  }
}
