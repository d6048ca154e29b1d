/**
 * Bearer-token authentication (RFC 6750). The token is compared in constant time (both
 * sides are hashed first, so neither their content nor their length leaks through timing).
 * A refusal says how to authenticate in `WWW-Authenticate`, as a 401 must (RFC 9110).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';
import { mayCall, type Role } from './roles.js';

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

/** A token the daemon accepts: its name (for the logs and the audit), its role, and the SHA-256 of the token. */
export interface TokenEntry {
  name: string;
  role: Role;
  sha256: Buffer;
}

/** The entry of `token`, the daemon's own (--token-file, SCHEDULER_TOKEN): an admin named "admin". */
export function adminToken(token: string): TokenEntry {
  return { name: 'admin', role: 'admin', sha256: digest(token) };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, when the daemon asks for tokens. */
    credential?: { name: string; role: Role };
  }
}

/**
 * An onRequest hook that admits only requests carrying one of `tokens`, and each only to the
 * routes its role allows (roles.ts): 401 without a known token, 403 `forbidden` beyond the role.
 */
export function requireToken(tokens: () => readonly TokenEntry[], options: { hideOutputFromViewers: boolean }) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (publicPaths.has(request.url.split('?')[0]!)) return;
    const presented = bearerCredentials(request.headers.authorization);
    const entry = presented === undefined ? undefined : tokenOf(tokens(), digest(presented));
    if (!entry) {
      // No credentials: just the challenge; wrong ones: also why (RFC 6750 3.1).
      reply.header('www-authenticate', presented === undefined ? realm : `${realm}, error="invalid_token"`);
      throw new SchedulerError('unauthorized', "missing or wrong bearer token: set SCHEDULER_TOKEN (or --token-file) to a token the daemon knows");
    }
    request.credential = { name: entry.name, role: entry.role };
    const operationId = (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
    if (!mayCall(entry.role, operationId, options)) {
      throw new SchedulerError('forbidden', `the token "${entry.name}" has the role ${entry.role}, which may not ${request.method} ${request.url.split('?')[0]}; ask for a token with a role that may (docs/configuration.md, Tokens and roles)`);
    }
  };
}

/** The entry whose digest is `presented`; every entry is compared, in constant time each. */
function tokenOf(tokens: readonly TokenEntry[], presented: Buffer): TokenEntry | undefined {
  let found: TokenEntry | undefined;
  for (const entry of tokens) if (timingSafeEqual(entry.sha256, presented) && !found) found = entry;
  return found;
}
