/**
 * The one place that wires real things together: the real clock, the SQLite store in the
 * data directory, the process runner, the engine, the HTTP server and the signals that end
 * the daemon cleanly.
 */
import { mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { dataDirId, lockDataDir } from './data-dir.js';
import { SchedulerError } from './core/errors.js';
import { checkExposure, type DaemonConfig } from './daemon-config.js';
import { ChangeFeed } from './engine/change-feed.js';
import { Engine } from './engine/engine.js';
import { systemClock } from './engine/system-clock.js';
import { defaultQueue } from './core/execution.js';
import type { Interpreters } from './core/interpreters.js';
import { ConcurrencyGate } from './runner/concurrency-gate.js';
import { ProcessRunner } from './runner/process-runner.js';
import { checkRunAsUser } from './runner/run-environment.js';
import { installationDirsOf, probeSandbox } from './runner/sandbox.js';
import { buildApp } from './server/app.js';
import { defaultEventHubOptions, EventHub } from './server/events/event-hub.js';
import { SqliteTaskStore } from './store/sqlite/sqlite-store.js';
import { programVersion } from './version.js';

/** A running daemon. */
export interface Daemon {
  app: FastifyInstance;
  /** The address it listens on, e.g. http://127.0.0.1:8865. */
  url: string;
  /** Stops serving, ends runs in progress (recorded as interrupted) and closes the store. */
  close(): Promise<void>;
}

/** Starts a daemon with `config`, printing its routes and address to `print`. */
export async function startDaemon(config: DaemonConfig, print: (line: string) => void): Promise<Daemon> {
  checkExposure(config);
  const sandbox = probeSandbox(config.bwrap);
  if (config.sandboxMode !== 'optional' && !sandbox.available) {
    throw new SchedulerError('invalid_request', `--sandbox ${config.sandboxMode}: the sandbox cannot work on this host: ${sandbox.reason}`);
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(config.dataDir);
  const log = pino({ level: config.logLevel }, pino.destination({ dest: 2, sync: false }));
  const store = new SqliteTaskStore({ path: join(config.dataDir, 'scheduler.db'), durability: config.durability });
  const feed = new ChangeFeed(systemClock);
  const events = new EventHub({ ...defaultEventHubOptions, heartbeatMs: config.heartbeatMs, log });
  const daemonId = dataDirId(config.dataDir);
  const processes = new ProcessRunner({
    spoolDir: join(config.dataDir, 'spool'),
    outputCap: config.outputCap,
    killGraceMs: config.killGraceMs,
    cwd: homedir(),
    daemonEnv: process.env,
    variables: config.env,
    defaultLimits: config.limits,
    ...(config.timeoutMs === undefined ? {} : { defaultTimeoutMs: config.timeoutMs }),
    // Outside the data directory: a run as another user must reach its own directory.
    workRoot: join(tmpdir(), `scheduler-runs-${daemonId}`),
    sandboxReadOnlyPaths: [...new Set([...config.sandboxReadOnlyPaths, ...installationDirsOf(interpreterPrograms(config.interpreters), process.env.PATH ?? '')])],
    ...(config.bwrap === undefined ? {} : { bwrap: config.bwrap }),
    sandboxRequired: config.sandboxMode === 'required',
    now: systemClock.now,
    daemonId,
    interpreters: config.interpreters,
    log,
  });
  const runner = new ConcurrencyGate({ inner: processes, maxRuns: config.maxRuns, queues: config.queues, now: systemClock.now, outputCap: config.outputCap });
  const languages = Object.keys(config.interpreters);
  const engine = new Engine({
    store,
    runner,
    clock: systemClock,
    feed,
    activity: events,
    log,
    keepRuns: config.keepRuns,
    outputCap: config.outputCap,
    maxOutputBytes: config.maxOutputBytes,
    limits: {
      maxScriptBytes: config.maxScriptBytes,
      languages,
      execution: {
        queues: [...new Set([defaultQueue, ...Object.keys(config.queues)])],
        sandboxMode: config.sandboxMode,
        sandbox,
        checkUser: (user) => checkRunAsUser(user),
      },
    },
    warmupMs: 50,
  });
  const app = await buildApp({
    engine,
    feed,
    events,
    store,
    token: config.token,
    // A script at its limit, JSON-escaped, fits with room to spare.
    bodyLimit: config.maxScriptBytes * 2 + 64 * 1024,
    log,
    version: programVersion(),
    about: {
      store: { kind: 'sqlite', location: join(config.dataDir, 'scheduler.db') },
      languages,
      sandbox: { mode: config.sandboxMode, available: sandbox.available, detail: sandbox.available ? `bubblewrap ${sandbox.version}` : sandbox.reason },
      slots: () => runner.snapshot(),
    },
  });

  try {
    await engine.start();
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    await engine.shutdown();
    await store.close();
    unlock();
    throw describeListenError(error, config);
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  print(`scheduler ${programVersion()} listening on ${url}`);
  print(`data directory: ${config.dataDir}${config.token ? ' (bearer token required)' : ''}`);
  print('routes:');
  for (const route of app.routeTable) print(`  ${route.method.padEnd(6)} ${route.path}`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      feed.close(); // answer pending long polls now, or closing would wait for them
      await app.close();
      await engine.shutdown();
      await store.close();
      unlock();
    })());
  return { app, url, close };
}

/** The program of each language's command (bash evaluates its scripts itself). */
function interpreterPrograms(interpreters: Interpreters): string[] {
  return ['bash', ...Object.values(interpreters).flatMap((command) => (command === null ? [] : [command[0]!]))];
}

/** A listen failure the user can act on, said so; anything else as it is. */
function describeListenError(error: unknown, config: DaemonConfig): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return new SchedulerError('invalid_request', `${where} is already in use (another scheduler daemon?); stop it, or choose another address with --listen`);
  }
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new SchedulerError('invalid_request', `cannot listen on ${where} (${code}); choose another address with --listen`);
  }
  return error;
}
