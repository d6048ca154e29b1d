/**
 * Bearer-token authentication (RFC 6750). The token is compared in constant time (both
 * sides are hashed first, so neither their content nor their length leaks through timing).
 * A refusal says how to authenticate in `WWW-Authenticate`, as a 401 must (RFC 9110).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Paths anyone may read: a health check must work for probes that hold no secret. */
const publicPaths = new Set(['/healthz']);

const realm = 'Bearer realm="scheduler"';

/**
 * The credentials of an `Authorization: Bearer TOKEN` header; undefined for any other
 * scheme. The scheme's name is case-insensitive (RFC 9110 11.1): `bearer x` is as good.
 */
export function bearerCredentials(header: string | undefined): string | undefined {
  const match = /^bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
  return match?.[1];
}

/** An onRequest hook that admits only requests carrying `token`. */
export function requireBearerToken(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (publicPaths.has(request.url.split('?')[0]!)) return;
    const presented = bearerCredentials(request.headers.authorization);
    if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return;
    // No credentials: just the challenge; wrong ones: also why (RFC 6750 3.1).
    reply.header('www-authenticate', presented === undefined ? realm : `${realm}, error="invalid_token"`);
    throw new SchedulerError(
      'unauthorized',
      'missing or wrong bearer token: set SCHEDULER_TOKEN (or --token-file) to the daemon\'s token',
    );
  };
}
