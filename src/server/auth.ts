/**
 * Bearer-token authentication (RFC 6750), and a browser's session cookie in its stead
 * (sessions.ts). The token is compared in constant time (both sides are hashed first, so
 * neither their content nor their length leaks through timing). A refusal says how to
 * authenticate in `WWW-Authenticate`, as a 401 must (RFC 9110).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { fastifyCookie } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';
import { readMethods, requestSite } from './request-site.js';
import { mayCall, type Role } from './roles.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Paths anyone may read: a health check must work for probes that hold no secret. */
const publicPaths = new Set(['/healthz']);

/** Routes that take no credentials of the request: logging in and out check what they are given themselves (routes/session.ts). */
const publicOperations = new Set(['createSession', 'deleteSession']);

/** The cookie that carries a browser's session id. */
export const sessionCookieName = 'scheduler_session';

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
    /** Who sent the request, when the daemon asks for tokens; `expiresAt` when it came with a browser's session. */
    credential?: { name: string; role: Role; expiresAt?: number };
  }
}

/** A live session: the name and role of the token it was opened with, and when it ends. */
export interface SessionCredential {
  name: string;
  role: Role;
  expiresAt: number;
}

/** Where sessions are looked up (sessions.ts). */
export interface SessionLookup {
  /** The live session of the cookie's id; undefined when it has expired, ended or was never opened. */
  find(id: string): Promise<SessionCredential | undefined>;
}

/** The session id of the request's cookie, if it carries one. */
export function sessionIdOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  // Parsed here, for the requests that carry cookies, rather than by @fastify/cookie's hook on every request.
  return header === undefined ? undefined : fastifyCookie.parse(header)[sessionCookieName];
}

/**
 * An onRequest hook that admits only requests carrying one of `tokens` (or, without an
 * Authorization header, the cookie of a live session, when `sessions` is given), and each
 * only to the routes its role allows (roles.ts): 401 without a known token, 403 `forbidden`
 * beyond the role, and 403 for a change made with the cookie that does not come from the
 * daemon's own pages (request-site.ts).
 */
export function requireToken(
  tokens: () => readonly TokenEntry[],
  options: { hideOutputFromViewers: boolean; sessions?: SessionLookup; /** More paths anyone may read (the dashboard's files). */ publicPaths?: readonly string[] },
) {
  const openPaths = new Set([...publicPaths, ...(options.publicPaths ?? [])]);
  const admit = (request: FastifyRequest, operationId: string | undefined, credential: { name: string; role: Role }): void => {
    request.credential = credential;
    if (!mayCall(credential.role, operationId, options)) {
      throw new SchedulerError('forbidden', `the token "${credential.name}" has the role ${credential.role}, which may not ${request.method} ${request.url.split('?')[0]}; ask for a token with a role that may (docs/configuration.md, Tokens and roles)`);
    }
  };
  // Calls back rather than async: a bearer token (most requests) is checked without a promise
  // and a turn of the microtask queue; only a session's lookup in the store waits.
  return (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    try {
      if (openPaths.has(request.url.split('?')[0]!)) return done();
      const operationId = (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId;
      if (operationId !== undefined && publicOperations.has(operationId)) return done();
      // A bearer header wins: the cookie is looked at only when there is none.
      const sessionId = options.sessions && request.headers.authorization === undefined ? sessionIdOf(request) : undefined;
      if (sessionId === undefined) {
        admit(request, operationId, bearerCredential(request, reply, tokens()));
        return done();
      }
      sessionCredential(request, reply, sessionId, options.sessions!)
        .then((credential) => admit(request, operationId, credential))
        .then(() => done(), (error: Error) => done(error));
    } catch (error) {
      done(error as Error);
    }
  };
}

function bearerCredential(request: FastifyRequest, reply: FastifyReply, tokens: readonly TokenEntry[]): { name: string; role: Role } {
  const presented = bearerCredentials(request.headers.authorization);
  const entry = presented === undefined ? undefined : findToken(tokens, presented);
  if (!entry) {
    // No credentials: just the challenge; wrong ones: also why (RFC 6750 3.1).
    reply.header('www-authenticate', presented === undefined ? realm : `${realm}, error="invalid_token"`);
    throw new SchedulerError('unauthorized', "missing or wrong bearer token: set SCHEDULER_TOKEN (or --token-file) to a token the daemon knows");
  }
  return { name: entry.name, role: entry.role };
}

async function sessionCredential(request: FastifyRequest, reply: FastifyReply, id: string, sessions: SessionLookup): Promise<SessionCredential> {
  // Checked before the session is looked up: another site's page learns nothing, and costs no read of the store.
  if (!readMethods.has(request.method) && requestSite(request) !== 'same') {
    throw new SchedulerError(
      'forbidden',
      `a request with the session cookie that does not come from the daemon's own pages cannot change anything (${request.method} ${request.url.split('?')[0]}): use the dashboard on the daemon's own address, or send a bearer token`,
    );
  }
  const session = await sessions.find(id);
  if (!session) {
    reply.header('www-authenticate', realm);
    throw new SchedulerError('unauthorized', 'the session has ended (it expired, was logged out, or its token was revoked): log in again (POST /api/session with a token), or send a bearer token');
  }
  return session;
}

/** The entry of the token `presented`, if the daemon accepts it; compared in constant time. */
export function findToken(tokens: readonly TokenEntry[], presented: string): TokenEntry | undefined {
  return tokenOf(tokens, digest(presented));
}

/** The entry whose digest is `presented`; every entry is compared, in constant time each. */
function tokenOf(tokens: readonly TokenEntry[], presented: Buffer): TokenEntry | undefined {
  let found: TokenEntry | undefined;
  for (const entry of tokens) if (timingSafeEqual(entry.sha256, presented) && !found) found = entry;
  return found;
}
