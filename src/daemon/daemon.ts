/**
 * The one place that wires real things together: the real clock, the store (SQLite in the
 * data directory, or PostgreSQL: open-store.ts), the process runner, the engine (with the limits on runs at once) and the
 * HTTP server. (The signals that end it cleanly are run-until-signalled.ts's; its settings
 * come from resolve-daemon-config.ts.)
 */
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import { homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { dataDirId, lockDataDir } from './data-dir.js';
import { ClusterWatch } from './cluster-watch.js';
import { NodeHeartbeat } from './node-heartbeat.js';
import { OutputFlusher } from './output-flusher.js';
import { openStore, type OpenedStore } from './open-store.js';
import { SchedulerError } from '../core/errors.js';
import { checkExposure, isLoopback, type DaemonConfig } from './daemon-config.js';
import { readTls, tlsFilesOf } from './tls-files.js';
import { ChangeFeed } from '../engine/change-feed.js';
import { activityOfAll, SchedulerMetrics } from '../metrics/scheduler-metrics.js';
import { Engine } from '../engine/engine.js';
import { FaultLog } from '../engine/fault-log.js';
import { systemClock } from '../engine/system-clock.js';
import { defaultQueue } from '../core/execution.js';
import { newNodeIdentity } from '../core/node.js';
import type { Interpreters } from '../core/interpreters.js';
import { Executor, executorBuilt } from '../runner/executor.js';
import { ProcessRunner } from '../runner/process-runner.js';
import { checkRunAsUser } from '../runner/run-environment.js';
import { installationDirsOf, probeSandbox } from '../runner/sandbox.js';
import { buildApp } from '../server/app.js';
import { dashboardBuilt, dashboardFiles } from '../server/dashboard.js';
import { defaultEventHubOptions, EventHub } from '../server/events/event-hub.js';
import { programVersion } from '../version.js';

/**
 * How early the daemon's firing loop fires a due task (firing-loop.ts): a run is then started
 * on the dot by the executor's gate, and a fire can be recorded by a daemon killed up to this
 * long before its due time. Long enough for a fire's commit that a WAL checkpoint holds up
 * (its fsync took several milliseconds here, 1% of the fires on an idle daemon): at 5 ms
 * those fires started 2-5 ms late, at 20 ms none did (docs/benchmarks.md, figure 3).
 */
export const daemonFireAheadMs = 20;

/**
 * How early the daemon prepares (spawns, held) the processes of the runs due soon, so that
 * what is left at a burst's instant is the scripts themselves. Two seconds: a burst of a
 * thousand where a shell starts in a millisecond or two of CPU, about 450 of them where it
 * takes 7 ms (docs/benchmarks.md). A prepared shell waits in a blocking read, using no CPU;
 * longer would hold more of them, longer, for tasks that may yet be changed.
 */
const daemonWarmupMs = 2000;

/**
 * On a shared store, how often a node looks for due fires besides its own timer: the tasks
 * other nodes submitted or changed do not arm it.
 */
const claimPollMs = 1000;

/** On a shared store, how often the output of the runs here is written for other nodes' watchers (if it grew). */
const outputFlushMs = 1000;

/** A running daemon. */
export interface Daemon {
  app: FastifyInstance;
  /** The address it listens on, e.g. http://127.0.0.1:8865. */
  url: string;
  /** Stops serving, ends runs in progress (recorded as interrupted) and closes the store. */
  close(): Promise<void>;
  /** Reads the TLS certificate and key again and serves new connections with them (SIGHUP); says what it did. */
  reloadTls(): string;
}

/** Starts a daemon with `config`, printing its routes and address to `print`. */
export async function startDaemon(config: DaemonConfig, print: (line: string) => void): Promise<Daemon> {
  checkExposure(config);
  const tlsFiles = tlsFilesOf(config);
  const tls = tlsFiles && readTls(tlsFiles);
  const sandbox = probeSandbox(config.bwrap);
  if (config.sandboxMode !== 'optional' && !sandbox.available) {
    throw new SchedulerError('invalid_request', `--sandbox ${config.sandboxMode}: the sandbox cannot work on this host: ${sandbox.reason}`);
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const lock = await lockDataDir(config.dataDir);
  // Lines are written 4 KiB at a time, and at least every 100 ms: a burst of a thousand runs
  // logs two lines each, and a write per line cost a tenth of the daemon's CPU in it. The
  // buffer is written out when the daemon exits (pino does it on exit).
  const destination = pino.destination({ dest: 2, sync: false, minLength: 4096 });
  const logFlush = setInterval(() => destination.flush(), 100);
  logFlush.unref();
  const log = pino({ level: config.logLevel }, destination);
  const daemonId = dataDirId(config.dataDir);
  const node = newNodeIdentity({ host: hostname(), pid: process.pid, version: programVersion(), startedAt: systemClock.now(), random: randomBytes(4).toString('hex') });
  let opened: OpenedStore;
  try {
    opened = await openStore(config, { nodeId: node.id, home: daemonId });
  } catch (error) {
    lock.release();
    throw error;
  }
  const { store, nodes } = opened;
  // Failures that repeat while the store is down are logged once a minute, with a count.
  const faults = new FaultLog(log, systemClock);
  const feed = new ChangeFeed(systemClock);
  const events = new EventHub({ ...defaultEventHubOptions, heartbeatMs: config.heartbeatMs, log, now: systemClock.now });
  // Runs are spawned by a small executor process, whose forks cost the same whatever this
  // daemon's heap (runner/executor.ts); by the daemon itself when it was not built.
  const executor = executorBuilt() ? new Executor({ log }) : undefined;
  if (!executor) log.warn('the executor (dist/executor/scheduler-executor) was not built, for want of a C compiler: this daemon spawns runs itself, which is slower when many start at once; install gcc and run `npm run build`');
  const runner = new ProcessRunner({
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
    ...(executor ? { spawn: executor.spawn } : {}),
  });
  const languages = Object.keys(config.interpreters);
  // Read when scraped, after the engine exists.
  const metrics: SchedulerMetrics = new SchedulerMetrics(programVersion(), {
    slots: () => engine.slotsSnapshot(),
    sseSubscribers: () => events.watchers,
    lastTickAt: () => engine.lastTickAt,
    taskCounts: () => store.countTasks(),
    overdue: (before, cap) => store.countOverdue(before, cap),
    prepared: () => runner.preparedProcesses(),
    now: systemClock.now,
  });
  const engine: Engine = new Engine({
    store: metrics.timeStore(store),
    runner,
    clock: systemClock,
    feed,
    activity: activityOfAll(events, metrics),
    log,
    faults,
    keepRuns: config.keepRuns,
    outputCap: config.outputCap,
    maxOutputBytes: config.maxOutputBytes,
    // On a shared store the queues are bounded over the cluster, in the claims (below); the
    // local slots then bound this node's runs in all.
    slots: { maxRuns: config.maxRuns, queues: opened.claims ? {} : config.queues },
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
    warmupMs: daemonWarmupMs,
    fireAheadMs: daemonFireAheadMs,
    ...(opened.leases ? { leases: { store: opened.leases, renewEveryMs: config.leaseRenewMs, nodeId: node.id } } : {}),
    ...(opened.claims ? { claims: { store: opened.claims, pollMs: claimPollMs, queueLimits: config.queues } } : {}),
  });
  const app = await buildApp({
    ...(tls ? { https: tls } : {}),
    engine,
    feed,
    events,
    store,
    token: config.token,
    tokens: config.tokens.map(({ name, role, sha256 }) => ({ name, role, sha256: Buffer.from(sha256, 'hex') })),
    hideOutputFromViewers: config.hideOutputFromViewers,
    tokenStore: store,
    sessionStore: store,
    sessionTtlMs: config.sessionTtlMs,
    auditStore: store,
    // A script at its limit, JSON-escaped, fits with room to spare.
    bodyLimit: config.maxScriptBytes * 2 + 64 * 1024,
    log,
    faults,
    version: programVersion(),
    clock: systemClock,
    nodes,
    ...(opened.soleWriter ? { soleWriter: opened.soleWriter } : {}),
    metrics,
    // Built by npm run build; a daemon run from sources that were never built serves the API alone.
    ...(config.dashboard && dashboardBuilt() ? { dashboard: dashboardFiles } : {}),
    about: {
      store: opened.about,
      languages,
      sandbox: { mode: config.sandboxMode, available: sandbox.available, detail: sandbox.available ? `bubblewrap ${sandbox.version}` : sandbox.reason },
      slots: () => engine.slotsSnapshot(),
      settings: settingsOf(config),
    },
  });

  // On a shared store: the other nodes' changes reach the watchers here, and this node's runs'
  // output reaches theirs.
  const { cluster, leases } = opened;
  const clusterWatch =
    cluster &&
    new ClusterWatch({
      changes: cluster.changes,
      store: { getTaskWithRuns: (id) => store.getTaskWithRuns(id), getRunWithOwner: (id, run) => cluster.runs.getRunWithOwner(id, run) },
      feed,
      hub: events,
      home: daemonId,
      isHere: (id, run) => engine.liveOutput(id, run) !== undefined,
      faults,
      now: systemClock.now,
    });
  const outputFlusher = leases && new OutputFlusher({ runs: () => engine.runsHere(), leases, everyMs: outputFlushMs, faults });

  // Every 5 s by default: stale after 3 missed beats (15 s), well within the 30 s lease, so
  // `scheduler nodes` shows a node lost before its runs are reaped; one row written per
  // node every 5 s costs the database nothing worth counting.
  let registered = false;
  const heartbeat = new NodeHeartbeat({ registry: nodes, clock: systemClock, intervalMs: config.nodeHeartbeatMs, runsExecuting: () => engine.runsInProgress, faults });
  try {
    // Registered before it serves: the first GET /api/nodes already lists it.
    await nodes.register(node);
    registered = true;
    await clusterWatch?.start();
    await engine.start();
    outputFlusher?.start();
    heartbeat.start();
    await app.listen({ host: config.host, port: config.port });
    opened.whenServing?.();
  } catch (error) {
    await stopAll();
    throw describeListenError(error, config);
  }

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  lock.announce(url);
  print(`scheduler ${programVersion()} listening on ${url}`);
  print(`data directory: ${config.dataDir}${config.token ? ' (bearer token required)' : ''}`);
  if (!tls && !isLoopback(config.host)) {
    const warning = `warning: listening on ${config.host} without TLS: tokens and task scripts travel in clear; give --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS proxy`;
    print(warning);
    log.warn(warning);
  }
  print(`node: ${node.id}`);
  print('routes:');
  for (const route of app.routeTable) print(`  ${route.method.padEnd(6)} ${route.path}`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      feed.close(); // answer pending long polls now, or closing would wait for them
      await stopAll();
    })());
  const reloadTls = (): string => {
    if (!tlsFiles) return 'SIGHUP: no TLS certificate to read again (the daemon serves plain HTTP)';
    try {
      (app.server as unknown as Server).setSecureContext(readTls(tlsFiles));
    } catch (error) {
      const said = `SIGHUP: kept the TLS certificate in use: ${(error as Error).message}`;
      log.error({ error }, said);
      return said;
    }
    log.info({ cert: tlsFiles.certFile }, 'TLS certificate and key read again');
    return `SIGHUP: read the TLS certificate ${tlsFiles.certFile} and its key again; new connections get them`;
  };
  return { app, url, close, reloadTls };

  /**
   * Stops what was started, the server first so that nothing new comes in, and releases the
   * data directory: on a clean stop, and when the start failed part way.
   */
  async function stopAll(): Promise<void> {
    await app.close();
    await clusterWatch?.close();
    await outputFlusher?.stop();
    await heartbeat.stop();
    await engine.shutdown();
    await executor?.close();
    await markStopped();
    faults.close();
    await store.close();
    lock.release();
  }

  /** Records the clean stop; a store that cannot take it leaves the node to go stale instead. */
  async function markStopped(): Promise<void> {
    if (!registered) return;
    try {
      await nodes.stopped();
    } catch (error) {
      log.warn({ error }, `could not record this node's stop in the store (${(error as Error).message}); other nodes will list it as stale`);
    }
  }
}

/** The options the daemon runs with, as GET /api/status shows them. */
function settingsOf(config: DaemonConfig) {
  return {
    listen: `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`,
    dataDir: config.dataDir,
    tokenRequired: config.token !== undefined,
    configFile: config.configFile ?? null,
    keepRuns: config.keepRuns,
    outputCapBytes: config.outputCap,
    maxOutputTotalBytes: config.maxOutputBytes,
    heartbeatMs: config.heartbeatMs,
    maxScriptBytes: config.maxScriptBytes,
    killGraceMs: config.killGraceMs,
    durability: config.durability,
    logLevel: config.logLevel,
  };
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
