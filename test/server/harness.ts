/**
 * A server for tests: buildApp over a real Engine, a SQLite store in a temporary directory,
 * a ChangeFeed, and the real ProcessRunner (or a launcher the test passes). Nothing listens;
 * tests talk to it with app.inject().
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { ChangeFeed } from '../../src/engine/change-feed.js';
import { Engine } from '../../src/engine/engine.js';
import { systemClock } from '../../src/engine/system-clock.js';
import type { TaskJson, TaskPageJson } from '../../src/protocol/schemas.js';
import { ProcessRunner } from '../../src/runner/process-runner.js';
import type { SlotLimits } from '../../src/core/run-slots.js';
import type { RunLauncher } from '../../src/runner/run-launcher.js';
import { buildApp } from '../../src/server/app.js';
import type { TokenEntry } from '../../src/server/auth.js';
import { defaultEventHubOptions, EventHub, type EventHubOptions } from '../../src/server/events/event-hub.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { LocalNodeRegistry } from '../../src/store/local-node-registry.js';
import { newNodeIdentity } from '../../src/core/node.js';
import type { TaskStore } from '../../src/store/task-store.js';

export const maxScriptBytes = 1000;
export const bodyLimit = 4096;
export const appVersion = '9.9.9-test';

export interface Harness {
  app: FastifyInstance;
  engine: Engine;
  store: SqliteTaskStore;
  feed: ChangeFeed;
  events: EventHub;
  /** A directory the test may use; removed on close. */
  dir: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  token?: string;
  /** More tokens, with roles. */
  tokens?: readonly TokenEntry[];
  hideOutputFromViewers?: boolean;
  /** Defaults to the real ProcessRunner. */
  launcher?: RunLauncher;
  /** How many runs may execute at once; unbounded if absent. */
  slots?: SlotLimits;
  /** Wraps the store the engine and the app see (to make it fail on purpose). */
  wrapStore?: (store: TaskStore) => TaskStore;
  /** Bounds and timings of the event streams, over the daemon's defaults. */
  events?: Partial<Omit<EventHubOptions, 'log'>>;
  /** The engine's bound on all kept output. */
  maxOutputBytes?: number;
  /** The clock of the engine and the app (its time and the daemon's zone); the real one by default. */
  clock?: Clock;
  /** How long a browser's session lasts; the daemon's default if absent. */
  sessionTtlMs?: number;
  /** Logins allowed per client address and window; the daemon's default if absent. */
  loginLimit?: { max: number; timeWindowMs: number };
  /** Serve the dashboard built in this directory (dist/dashboard). */
  dashboard?: string;
}

const quietLog = { debug() {}, info() {}, warn() {}, error() {} };

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-server-'));
  const store = new SqliteTaskStore({ path: join(dir, 'scheduler.db') });
  const seen = options.wrapStore ? options.wrapStore(store) : store;
  const clock = options.clock ?? systemClock;
  const feed = new ChangeFeed(clock);
  const events = new EventHub({ ...defaultEventHubOptions, ...options.events, log: quietLog });
  const runner =
    options.launcher ??
    new ProcessRunner({
      spoolDir: join(dir, 'spool'),
      outputCap: 4096,
      killGraceMs: 200,
      cwd: dir,
      daemonEnv: process.env,
      workRoot: join(dir, 'runs'),
      now: systemClock.now,
      daemonId: `server-test-${process.pid}`,
    });
  const engine = new Engine({
    store: seen,
    runner,
    clock,
    feed,
    activity: events,
    log: quietLog,
    keepRuns: 10,
    outputCap: 4096,
    maxOutputBytes: options.maxOutputBytes,
    limits: { maxScriptBytes },
    slots: options.slots,
  });
  const nodes = new LocalNodeRegistry(() => clock.now());
  await nodes.register(newNodeIdentity({ host: 'test-host', pid: process.pid, version: appVersion, startedAt: clock.now(), random: '0badc0de' }));
  // As the daemon on SQLite: GET /api/tasks/{id} answers through the cache of serialised tasks.
  const app = await buildApp({
    engine,
    feed,
    events,
    store: seen,
    token: options.token,
    ...(options.tokens ? { tokens: options.tokens } : {}),
    ...(options.hideOutputFromViewers ? { hideOutputFromViewers: true } : {}),
    bodyLimit,
    log: quietLog,
    version: appVersion,
    clock,
    nodes,
    soleWriter: store,
    tokenStore: store,
    sessionStore: store,
    ...(options.sessionTtlMs === undefined ? {} : { sessionTtlMs: options.sessionTtlMs }),
    ...(options.loginLimit ? { loginLimit: options.loginLimit } : {}),
    auditStore: store,
    ...(options.dashboard ? { dashboard: options.dashboard } : {}),
  });
  await engine.start();
  return {
    app,
    engine,
    store,
    feed,
    events,
    dir,
    close: async () => {
      await app.close();
      await engine.shutdown();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Expects `response` to be the error `{"error":{"code","message"}}` with `status` and `code`. */
export function expectError(response: LightMyRequestResponse, status: number, code: string): string {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json() as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error.message;
}

/** Submits a task and expects it accepted. */
export async function submit(
  app: FastifyInstance,
  body: { id: string; type?: string; time?: string; script?: string; timeout?: string; timezone?: string; start?: string; end?: string },
): Promise<TaskJson> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/tasks',
    payload: { type: 'delay', time: '1h', script: 'echo hi', ...body },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TaskJson>();
}

export async function getTask(app: FastifyInstance, id: string): Promise<TaskJson> {
  const response = await app.inject({ method: 'GET', url: `/api/tasks/${id}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<TaskJson>();
}

export async function listAll(app: FastifyInstance): Promise<TaskPageJson> {
  const response = await app.inject({ method: 'GET', url: '/api/tasks?limit=1000' });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<TaskPageJson>();
}

/**
 * Waits, through the long poll itself, until the task satisfies `done`; fails after
 * `deadlineMs`.
 */
export async function waitForTask(
  app: FastifyInstance,
  id: string,
  done: (task: TaskJson) => boolean,
  deadlineMs = 10_000,
): Promise<TaskJson> {
  const deadline = Date.now() + deadlineMs;
  let task = await getTask(app, id);
  while (!done(task)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`task ${id} did not reach the awaited state in ${deadlineMs}ms; last seen: ${JSON.stringify(task)}`);
    const response = await app.inject({
      method: 'GET',
      url: `/api/tasks/${id}?watch=true&version=${task.version}&timeout=${Math.max(1, Math.min(left, 2000))}ms`,
    });
    expect(response.statusCode, response.body).toBe(200);
    task = response.json<TaskJson>();
  }
  return task;
}

export const waitForStatus = (app: FastifyInstance, id: string, status: string, deadlineMs?: number) =>
  waitForTask(app, id, (task) => task.status === status, deadlineMs);

/** ISO 8601 in UTC with milliseconds, as every time in the API is written. */
export const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
