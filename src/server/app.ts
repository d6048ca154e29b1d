/**
 * buildApp wires the HTTP layer around an engine, without listening: the daemon listens,
 * tests use app.inject(). Routes validate requests and serialise answers with the protocol
 * schemas, which are also published as an OpenAPI document at /api/openapi.json.
 */
import type https from 'node:https';
import Fastify, { type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import { Type } from 'typebox';
import type { Clock } from '../core/clock.js';
import type { AuditReader, BackupWriter, ChangeSubscriptions, FaultReporter, HealthProbe, MetricsSource, NodeDirectory, RunSlots, SessionStore, TaskOperations, SoleWriter, TokenStore } from './ports.js';
import { SchedulerError } from '../core/errors.js';
import { AllowedMethods } from './allowed-methods.js';
import { EventJson, eventSchemas } from '../protocol/event-schemas.js';
import { ErrorJson, HealthJson, NodeJson, RunJson, RunSummaryJson, StatusJson, TaskJson, TaskSummaryJson, UnhealthyJson } from '../protocol/schemas.js';
import { adminToken, requireToken, type TokenEntry } from './auth.js';
import { dashboardPaths, dashboardRoutes } from './dashboard.js';
import { crossSiteRefusal } from './request-site.js';
import { TokenRegistry } from './token-registry.js';
import { auditChanges, AuditLog, type AuditStore } from './audit-log.js';
import { auditRoutes } from './routes/audit.js';
import { tokenRoutes } from './routes/tokens.js';
import { defaultLoginLimit, sessionRoutes, type LoginLimit } from './routes/session.js';
import { defaultSessionTtlMs, Sessions } from './sessions.js';
import { errorHandler, retryAfterSeconds, sendError, type RequestLog } from './error-handler.js';
import type { EventHub } from './events/event-hub.js';
import { acceptJsonBodiesOnly } from './json-body.js';
import { compileSchemasOnFirstUse } from './lazy-compilers.js';
import { backupRoutes } from './routes/backup.js';
import { metricsRoutes } from './routes/metrics.js';
import { nodeRoutes } from './routes/nodes.js';
import { eventRoutes } from './routes/events.js';
import { runRoutes } from './routes/runs.js';
import { answer, commonErrors, errorResponses } from './routes/responses.js';
import { taskRoutes } from './routes/tasks.js';
import { TaskJsonCache } from './task-json-cache.js';
import { transferRoutes } from './routes/transfer.js';

/** What the HTTP layer needs. */
export interface AppDeps {
  engine: TaskOperations;
  /** Where long polls wait for changes. */
  feed: ChangeSubscriptions;
  /** The live event streams; the engine must report its activity to the same hub. */
  events: EventHub;
  /** The store, for /healthz and backups only: every other read and write goes through the engine. */
  store: HealthProbe & BackupWriter;
  /** When set, every request but /healthz must carry it as a bearer token: the admin's token. */
  token?: string;
  /** More tokens, each with its role (roles.ts); with these or `token`, every request but /healthz needs one. */
  tokens?: readonly TokenEntry[];
  /** Viewers may not read runs' output. */
  hideOutputFromViewers?: boolean;
  /** Where tokens made through the API are kept; without it, POST /api/tokens cannot make any. */
  tokenStore?: TokenStore;
  /** Serve HTTPS with this certificate (chain) and key, PEM; plain HTTP without. */
  https?: { cert: Buffer; key: Buffer };
  /** Where browsers' sessions are kept (POST /api/session); without it, no one logs in. */
  sessionStore?: SessionStore;
  /** How long a browser's session lasts; 12 h by default. */
  sessionTtlMs?: number;
  /** Logins allowed per client address and window; 10 a minute by default. */
  loginLimit?: LoginLimit;
  /** Where the audit log is kept; without it, nothing is recorded. */
  auditStore?: AuditStore & AuditReader;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  /** Where failures of requests are logged. */
  log: RequestLog;
  /** Where store failures that repeat with every request are logged, once per interval; each is logged if absent. */
  faults?: FaultReporter;
  version: string;
  /** The time the status and the health answers tell (the daemon's real clock; a fake one in tests). */
  clock: Pick<Clock, 'now'>;
  /** What GET /api/status says of the store, the languages, the sandbox and the slots of runs. */
  about?: DaemonAbout;
  /** The daemons sharing the store (GET /api/nodes), and this one's state (/healthz). */
  nodes: NodeDirectory;
  /**
   * Given by a store this daemon alone writes (SQLite): GET /api/tasks/{id} then answers from
   * a cache of serialised tasks keyed by version (task-json-cache.ts). Without it (a store
   * shared with other nodes, which change tasks without telling), every GET reads the task.
   */
  soleWriter?: SoleWriter;
  /** Where the built dashboard is (dist/dashboard): served at / when given. */
  dashboard?: string;
  /** Served at GET /metrics when given. */
  metrics?: MetricsSource;
}

/** What the daemon tells of itself in GET /api/status, besides what the engine knows. */
export interface DaemonAbout {
  store: { kind: 'sqlite' | 'postgres'; location: string };
  languages: readonly string[];
  sandbox: StatusJson['sandbox'];
  /** How full the slots of runs are, now. */
  slots(): RunSlots;
  /** The daemon's effective options. */
  settings?: StatusJson['settings'];
}

/**
 * Query strings and path parameters arrive as text, so their validator converts types
 * ("?limit=5"). A JSON body has real types: `{"id": 42}` is an error, not the string "42".
 * Neither drops unknown fields silently: they are refused.
 */
/** How often the tokens made through the API are read again from the store (other daemons sharing it make and revoke them too). */
const tokenRefreshMs = 5000;

const ajvOptions = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false } as const;
const bodyAjv = new Ajv({ ...ajvOptions, coerceTypes: false });
const coercingAjv = new Ajv({ ...ajvOptions, coerceTypes: 'array' });

/** One served route, as printed when the daemon starts. */
export interface RouteLine {
  method: string;
  path: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route served, in registration order. */
    routeTable: RouteLine[];
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const registry = new TokenRegistry(
    [
      ...(deps.token === undefined ? [] : [{ ...adminToken(deps.token), source: 'daemon' as const }]),
      ...(deps.tokens ?? []).map((entry) => ({ ...entry, source: 'config' as const })),
    ],
    deps.tokenStore,
    { refreshMs: tokenRefreshMs, now: () => deps.clock.now() },
  );
  // The server is https.Server with `https`: the daemon swaps its certificate on SIGHUP
  // (setSecureContext); the routes do not care which it is.
  const options: FastifyServerOptions = {
    // Fastify's own logger would build a child logger for every request, which costs more
    // than serving a GET; the daemon logs what matters (errors, runs) itself.
    logger: false,
    // Requests that arrive while the daemon closes get our error shape (see preClose below).
    return503OnClosing: false,
    bodyLimit: deps.bodyLimit,
    // Task ids are up to 128 characters; the router's default cap (100) would answer longer
    // valid ids with a 414 of Fastify's own shape. Longer ones reach the schema and get a 400.
    // "/api/tasks/" is "/api/tasks" (without this, the empty id after the slash got a 400).
    routerOptions: { maxParamLength: 1024, ignoreTrailingSlash: true },
    // Errors the router raises before a route is found (a bad URL) leave in our shape too.
    frameworkErrors: errorHandler(deps.log, deps.faults),
  };
  // With `https` the server is an https.Server: the daemon swaps its certificate on SIGHUP
  // (setSecureContext); nothing else here cares which server it is.
  const app = (deps.https ? Fastify({ ...(options as FastifyHttpsOptions<https.Server>), https: deps.https }) : Fastify(options)) as unknown as FastifyInstance;

  const routeTable: RouteLine[] = [];
  app.decorate('routeTable', routeTable);
  const allowed = new AllowedMethods();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) allowed.add(route.url, method);
    if (route.method === 'HEAD' || (route.schema as { hide?: boolean } | undefined)?.hide) return;
    for (const method of [route.method].flat()) routeTable.push({ method, path: route.url });
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'scheduler',
        description: 'A durable task scheduler: submit scripts to run after a delay or on an interval.',
        version: deps.version,
        license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
      },
      // Relative: the API is served by the daemon that serves this document, wherever it listens.
      servers: [{ url: '/', description: 'the daemon serving this document' }],
      // The bearer scheme exists only when the daemon asks for a token: declared otherwise, it would promise one.
      components: registry.enforced ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {},
      security: registry.enforced ? [{ bearer: [] }] : [],
    },
    // Shared schemas become components named by their $id, not def-0, def-1...
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  // Task, Run, Error and the events are written once, and referred to by every route that answers them.
  for (const schema of [RunJson, RunSummaryJson, TaskSummaryJson, TaskJson, ErrorJson, NodeJson, ...eventSchemas, EventJson]) app.addSchema(schema);

  compileSchemasOnFirstUse(app, ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : coercingAjv).compile(schema));
  app.setErrorHandler(errorHandler(deps.log, deps.faults));
  acceptJsonBodiesOnly(app);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const methods = allowed.of(path);
    if (methods.length > 0) {
      reply.header('allow', methods.join(', '));
      return sendError(reply, 405, 'method_not_allowed', `${path} does not answer ${request.method}; it answers ${methods.join(', ')}`);
    }
    return sendError(reply, 404, 'not_found', `no route ${request.method} ${path}; GET /api/openapi.json lists the routes`);
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    // Event streams never end by themselves: end them, or closing would wait for them.
    deps.events.close();
  });
  // Every request passes here: a hook that calls back, not an async one, which would cost a
  // promise and a turn of the microtask queue per request.
  app.addHook('onRequest', (request, _reply, done) => {
    if (closing) return done(new SchedulerError('shutting_down', 'the daemon is shutting down; start it again with "scheduler daemon"'));
    // Whatever the credentials, or none: no other site's page changes anything (request-site.ts).
    done(crossSiteRefusal(request));
  });
  const sessions = deps.sessionStore && new Sessions(deps.sessionStore, () => registry.entries(), { ttlMs: deps.sessionTtlMs ?? defaultSessionTtlMs, now: () => deps.clock.now() });
  if (registry.enforced) {
    app.addHook(
      'onRequest',
      requireToken(() => registry.entries(), {
        hideOutputFromViewers: deps.hideOutputFromViewers ?? false,
        ...(sessions ? { sessions } : {}),
        // The dashboard's files hold no secret: the page they make logs in itself.
        ...(deps.dashboard ? { publicPaths: dashboardPaths } : {}),
      }),
    );
  }
  app.addHook('onReady', () => registry.start());
  app.addHook('onClose', async () => registry.stop());
  if (deps.auditStore) auditChanges(app, new AuditLog(deps.auditStore, deps.faults), deps.clock);

  app.get('/healthz', {
    schema: {
      operationId: 'getHealth',
      summary: "Answers 200 when the store is usable, 503 saying why when it is not; with the store's kind and this node's id and state",
      // Load balancers and probes ask without the token.
      security: [],
      response: {
        200: answer('The daemon and its store are usable', HealthJson),
        503: answer('The store cannot serve: full, failing or damaged; with Retry-After when waiting may help', UnhealthyJson),
        ...errorResponses(400, 500),
      },
    },
  }, async (_request, reply) => {
    // Which store, and which node answered: behind a load balancer, the answer says whom it checked.
    const about = () => ({ ...(deps.about ? { store: deps.about.store.kind } : {}), node: deps.nodes.self() });
    const unhealthy = (code: 'store_unavailable' | 'store_corrupt', reason: string, since: number) => {
      if (code === 'store_unavailable') void reply.header('retry-after', String(retryAfterSeconds));
      return reply
        .code(503)
        .send({ status: 'unavailable' as const, code, reason, since: new Date(since).toISOString(), heldRunEnds: deps.engine.backlog.heldRunEnds, ...about() });
    };
    const health = await deps.store.recheck();
    if (!health.ok) return unhealthy(health.code, health.reason, health.since);
    try {
      await deps.store.ping();
    } catch (error) {
      return unhealthy('store_unavailable', `the store is not usable: ${(error as Error).message}`, deps.clock.now());
    }
    return { status: 'ok' as const, ...about() };
  });
  const startedAt = deps.clock.now();
  app.get('/api/status', {
    schema: {
      operationId: 'getStatus',
      summary: "The daemon's version, uptime, store and what it is doing",
      response: { 200: answer('The daemon now', StatusJson), ...errorResponses(...commonErrors) },
    },
  }, async (): Promise<StatusJson> => {
    const slots = deps.about?.slots();
    return {
      version: deps.version,
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((deps.clock.now() - startedAt) / 100) / 10,
      store: deps.about?.store ?? { kind: 'unknown', location: '' },
      node: deps.nodes.self().id,
      runsInProgress: slots?.running ?? deps.engine.runsInProgress,
      runsWaiting: slots?.waiting ?? 0,
      maxRuns: slots?.maxRuns ?? 0,
      queues: slots?.queues ?? [],
      eventStreams: deps.events.watchers,
      languages: [...(deps.about?.languages ?? [])],
      sandbox: deps.about?.sandbox ?? { mode: 'optional', available: false, detail: 'unknown' },
      ...(deps.about?.settings === undefined ? {} : { settings: deps.about.settings }),
    };
  });
  app.get('/api/openapi.json', {
    schema: {
      operationId: 'getOpenApi',
      summary: 'This API as an OpenAPI document',
      response: {
        200: answer('The OpenAPI 3.0 document of this daemon', Type.Object({}, { additionalProperties: true })),
        ...errorResponses(...commonErrors),
      },
    },
  }, async () => app.swagger());
  let cache: TaskJsonCache | undefined;
  if (deps.soleWriter) {
    const writer = deps.soleWriter;
    const kept = (cache = new TaskJsonCache(() => writer.writeCount()));
    writer.onUnversionedChange((id) => kept.invalidate(id));
  }
  taskRoutes(app, { ...deps, cache });
  runRoutes(app, deps.engine);
  eventRoutes(app, deps.engine, deps.events);
  backupRoutes(app, deps.store);
  nodeRoutes(app, deps.nodes);
  transferRoutes(app, deps);
  if (deps.metrics) metricsRoutes(app, deps.metrics);
  if (deps.dashboard) await dashboardRoutes(app, deps.dashboard);
  tokenRoutes(app, registry);
  await sessionRoutes(app, { sessions, tokenRequired: registry.enforced, https: deps.https !== undefined, loginLimit: deps.loginLimit ?? defaultLoginLimit });
  if (deps.auditStore) auditRoutes(app, deps.auditStore);
  return app;
}
