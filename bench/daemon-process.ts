/**
 * Starts a scheduler daemon as a child process for one benchmark figure: its own fresh
 * temporary data directory, loopback only, a free port. stop() ends it (TERM, then KILL)
 * and removes the directory; restart() ends it and starts it again on the same directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapAtExit, release } from './reaper.js';

/** A daemon started for the benchmark. */
export interface BenchDaemon {
  /** e.g. http://127.0.0.1:40123 (a new port after a restart) */
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Where its stderr (the pino log) goes. */
  readonly logPath: string;
  stop(): Promise<void>;
  /** Ends the daemon and starts it again on the same data directory; resolves with the ms from the spawn until /healthz answered 200. */
  restart(): Promise<number>;
}

export interface BenchDaemonOptions {
  label: string;
  /** Flags for node itself (e.g. --cpu-prof). */
  nodeArgs?: string[];
  extraArgs?: string[];
  /**
   * 'lifted' (the default): `--max-runs 100000`, so that a burst of 1,000 runs never waits
   * for a slot and the figure measures firing; 'default': the daemon's own cap.
   */
  maxRuns?: 'lifted' | 'default';
  /** Fills the data directory before the daemon first starts (e.g. a database of pending tasks). */
  prepare?: (dataDir: string) => Promise<void>;
}

const startTimeoutMs = 30_000;
const stopTimeoutMs = 10_000;
/** dist/bench/daemon-process.js -> dist/src/cli/scheduler.js, the bundled program (scripts/build-bundle.ts) */
const mainScript = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'scheduler.js');
/** The node flags of the program's shebang (`#!/usr/bin/env -S node FLAGS`), so the daemon runs as installed. */
export const programNodeFlags = (readFileSync(mainScript, 'utf8').split('\n')[0] ?? '').split(/\s+/).filter((word) => word.startsWith('--'));

/**
 * With SCHEDULER_BENCH_CPU_PROF=DIR every bench daemon writes a V8 CPU profile into DIR when it
 * exits (in DIR/LABEL, one file per daemon process): open it in Chrome's DevTools or speedscope for a flame graph,
 * or summarise it with `node dist/bench/profile-summary.js FILE`.
 */
function profileFlags(label: string): string[] {
  const dir = process.env.SCHEDULER_BENCH_CPU_PROF;
  if (!dir) return [];
  const labelled = resolve(dir, label);
  mkdirSync(labelled, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', labelled];
}

/**
 * With SCHEDULER_BENCH_NODE_FLAGS="FLAG ..." every bench daemon runs with those node flags
 * too, after its own (so they win): for an experiment such as another young generation,
 * `--max-semi-space-size=16`, measured without rebuilding.
 */
function experimentFlags(): string[] {
  return (process.env.SCHEDULER_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
}

/** Data directories not removed yet; removed at exit whatever ends the bench (after the reaper killed the daemons). */
const roots = new Set<string>();
process.on('exit', () => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

export async function startBenchDaemon(options: BenchDaemonOptions): Promise<BenchDaemon> {
  const root = mkdtempSync(join(tmpdir(), `scheduler-bench-${options.label}-`));
  const dataDir = join(root, 'data');
  const logPath = join(root, 'daemon.log');
  const removeRoot = () => {
    rmSync(root, { recursive: true, force: true });
    roots.delete(root);
  };
  roots.add(root);
  const slots = options.maxRuns === 'default' ? [] : ['--max-runs', '100000'];
  const args = [...programNodeFlags, ...profileFlags(options.label), ...(options.nodeArgs ?? []), ...experimentFlags(), mainScript, 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...slots, ...(options.extraArgs ?? [])];

  let current: Running | undefined;
  const stop = async () => {
    await current?.stop();
    removeRoot();
  };
  try {
    if (options.prepare) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      await options.prepare(dataDir);
    }
    current = await startProcess(args, root, logPath);
  } catch (error) {
    removeRoot();
    throw error;
  }
  return {
    get url() {
      return current!.url;
    },
    get pid() {
      return current!.pid;
    },
    dataDir,
    logPath,
    stop,
    async restart() {
      await current!.stop();
      const spawnedAt = performance.now();
      current = await startProcess(args, root, logPath);
      await waitForHealth(current.url, startTimeoutMs);
      return performance.now() - spawnedAt;
    },
  };
}

interface Running {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Spawns the daemon; resolves once it said where it listens. */
async function startProcess(args: string[], cwd: string, logPath: string): Promise<Running> {
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', logFd] });
  } finally {
    closeSync(logFd);
  }
  reapAtExit(child);
  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once('exit', () => resolveExit());
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
        await exited;
        clearTimeout(timer);
      }
      release(child);
    })());

  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`the daemon did not say where it listens within ${startTimeoutMs} ms`)), startTimeoutMs);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (text: string) => {
        seen += text;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]!);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the daemon exited before listening (code ${code}, signal ${signal}); see ${logPath}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    // Keep draining stdout so the daemon never blocks on a full pipe.
    child.stdout!.resume();
    return { url, pid: child.pid!, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Asks /healthz every few ms until it answers 200. */
async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not answering yet
    }
    if (performance.now() > deadline) throw new Error(`/healthz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 5));
  }
}
