/**
 * The documented answers of the routes: each status with what it means and its schema, so
 * the OpenAPI document says what a client can get back, errors included. Fastify also
 * serialises each answer with the schema of its status.
 */
import type { TSchema } from 'typebox';
import { ErrorJson, Ref, serverErrorCodes } from '../../protocol/schemas.js';

/** What each error status means, whatever the route. */
const errorMeanings: Record<number, string> = {
  400: 'The request is invalid (a parameter, the body, or a combination of them); the message names the field',
  401: 'The daemon requires a token (--token-file) and the request carries none, or a wrong one, as `Authorization: Bearer TOKEN`',
  403: "The token's role does not allow this request",
  404: 'No task with this id (or no such run of it)',
  409: 'The task exists already, or its status does not allow this',
  413: 'The body is larger than the daemon accepts',
  429: 'Too many attempts from this address; Retry-After says in how many seconds to try again',
  500: 'The daemon failed to handle the request; its log has the details',
  503: 'The daemon cannot serve this now: its store is unusable or damaged, or it is shutting down; retry later',
};

/** Error answers for these statuses, each with the codes it may carry. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const responses: Record<number, TSchema> = {};
  for (const status of statuses) {
    const codes = serverErrorCodes.get(status) ?? [];
    responses[status] = answer(`${errorMeanings[status] ?? 'An error'}. Codes: ${codes.join(', ')}`, Ref(ErrorJson));
  }
  return responses;
}

/** Errors every /api route may answer: a bad request, no token, a failure of the daemon or of its store. */
export const commonErrors = [400, 401, 403, 500, 503] as const;

/** A JSON answer with its meaning. */
export function answer(description: string, schema: TSchema): TSchema {
  return { description, content: { 'application/json': { schema } } } as unknown as TSchema;
}

/** An answer without a body (204). */
export function emptyAnswer(description: string): TSchema {
  return { type: 'null', description } as unknown as TSchema;
}
