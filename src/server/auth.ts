/**
 * Bearer-token authentication. The token is compared in constant time (both sides are
 * hashed first, so neither their content nor their length leaks through timing).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Paths anyone may read: a health check must work for probes that hold no secret. */
const publicPaths = new Set(['/healthz']);

/** An onRequest hook that admits only requests carrying `token`. */
export function requireBearerToken(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest): Promise<void> => {
    if (publicPaths.has(request.url.split('?')[0]!)) return;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!timingSafeEqual(digest(presented), expected) || presented.length === 0) {
      throw new SchedulerError(
        'unauthorized',
        'missing or wrong bearer token: set SCHEDULER_TOKEN (or --token-file) to the daemon\'s token',
      );
    }
  };
}
