/**
 * /api/session: a browser logs in with a token (POST) and is then known by an HttpOnly
 * cookie, asks who it is (GET), and logs out (DELETE). Logins are rate-limited per client
 * address: a token is guessed nowhere faster than that. See sessions.ts for what a session
 * is, and auth.ts for how its cookie admits requests.
 */
import { fastifyCookie } from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { SchedulerError } from '../../core/errors.js';
import { CreateSessionBody, SessionJson } from '../../protocol/schemas.js';
import { sessionCookieName, sessionIdOf } from '../auth.js';
import type { Sessions } from '../sessions.js';
import { answer, commonErrors, emptyAnswer, errorResponses } from './responses.js';
import { isoTime } from '../../protocol/iso-time.js';

/** How many logins one client address may try per window. */
export interface LoginLimit {
  max: number;
  timeWindowMs: number;
}

/** Ten a minute: plenty for a person, and a 256-bit token is not guessed at that pace. */
export const defaultLoginLimit: LoginLimit = { max: 10, timeWindowMs: 60_000 };

export interface SessionRouteOptions {
  /** Where sessions are opened; without it (no store), logins are refused. */
  sessions: Sessions | undefined;
  /** Whether the daemon asks for a token at all; without, every request is admitted and there is nothing to log in to. */
  tokenRequired: boolean;
  /** The daemon serves HTTPS: the cookie is then sent over HTTPS alone. */
  https: boolean;
  loginLimit: LoginLimit;
}

// Login and logout take no credentials from the request, so they are the routes a page of
// another site could make a browser call (logging it in to the attacker's session, or out):
// the app's rule against changes from other sites (request-site.ts) refuses those.

export async function sessionRoutes(app: FastifyInstance, options: SessionRouteOptions): Promise<void> {
  // Only the routes that ask for it are limited (config.rateLimit): the login alone.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (request, context) =>
      new SchedulerError('rate_limited', `too many login attempts from ${request.ip}: try again in ${context.after} (Retry-After says in seconds)`),
  });
  const cookie = (value: string, maxAgeSeconds: number) =>
    fastifyCookie.serialize(sessionCookieName, value, { httpOnly: true, sameSite: 'strict', path: '/', secure: options.https, maxAge: maxAgeSeconds });
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.post('/api/session', {
    config: { rateLimit: { max: options.loginLimit.max, timeWindow: options.loginLimit.timeWindowMs } },
    schema: {
      operationId: 'createSession',
      summary: `Log in with a token: sets the HttpOnly cookie ${sessionCookieName} of a new session (the daemon keeps its SHA-256); ${options.loginLimit.max} attempts per ${options.loginLimit.timeWindowMs / 1000} s per client address`,
      // The token is in the body: no bearer header is needed.
      security: [],
      body: CreateSessionBody,
      response: { 201: answer('Logged in: who, and when the session ends', SessionJson), ...errorResponses(...commonErrors, 409, 429) },
    },
  }, async (request, reply) => {
    if (!options.tokenRequired) {
      throw new SchedulerError('status_conflict', 'this daemon asks for no token, so there is nothing to log in to: every request is admitted; start it with --token-file (or SCHEDULER_TOKEN) to require one');
    }
    if (!options.sessions) throw new SchedulerError('internal', 'this daemon keeps no sessions');
    const opened = await options.sessions.open(request.body.token);
    if (!opened) {
      reply.header('www-authenticate', 'Bearer realm="scheduler", error="invalid_token"');
      throw new SchedulerError('unauthorized', 'wrong token: log in with a token the daemon knows (its own, one of its config file, or one made with scheduler token create)');
    }
    const { name, role, expiresAt } = opened.session;
    // The audit log then records who logged in (never the token).
    request.credential = { name, role };
    return reply
      .code(201)
      .header('set-cookie', cookie(opened.id, Math.floor(options.sessions.ttlMs / 1000)))
      .header('cache-control', 'no-store')
      .send({ name, role, expiresAt: isoTime(expiresAt), tokenRequired: true });
  });

  api.get('/api/session', {
    schema: {
      operationId: 'getSession',
      summary: 'Who the caller is: the name and role of its token or session, when the session ends, and whether the daemon asks for a token at all',
      response: { 200: answer('The caller', SessionJson), ...errorResponses(...commonErrors) },
    },
  }, async (request, reply) => {
    void reply.header('cache-control', 'no-store');
    const credential = request.credential;
    // No credential: the daemon asks for no token (auth.ts sets one on every other request).
    if (!credential) return { name: 'anonymous', role: 'admin' as const, expiresAt: null, tokenRequired: false };
    return { name: credential.name, role: credential.role, expiresAt: credential.expiresAt === undefined ? null : isoTime(credential.expiresAt), tokenRequired: true };
  });

  api.delete('/api/session', {
    schema: {
      operationId: 'deleteSession',
      summary: "Log out: ends the cookie's session and clears the cookie; without a session, clears the cookie all the same",
      security: [],
      response: { 204: emptyAnswer('Logged out'), ...errorResponses(...commonErrors) },
    },
  }, async (request, reply) => {
    const id = sessionIdOf(request);
    const ended = id === undefined ? undefined : await options.sessions?.close(id);
    // The audit log then records who logged out.
    if (ended) request.credential = { name: ended.name, role: ended.role };
    return reply.code(204).header('set-cookie', cookie('', 0)).send();
  });
}
