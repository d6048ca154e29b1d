/**
 * Starts a scheduler daemon as a child process for one benchmark figure: its own fresh
 * temporary data directory, loopback only, a free port. stop() ends it (TERM, then KILL)
 * and removes the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapAtExit, release } from './reaper.js';

/** A daemon started for the benchmark. */
export interface BenchDaemon {
  /** e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly pid: number;
  /** Where its stderr (the pino log) goes. */
  readonly logPath: string;
  stop(): Promise<void>;
}

const startTimeoutMs = 15_000;
const stopTimeoutMs = 10_000;
/** dist/bench/daemon-process.js -> dist/src/cli/main.js */
const mainScript = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
/** The node flags of the program's shebang (`#!/usr/bin/env -S node FLAGS`), so the daemon runs as installed. */
export const programNodeFlags = (readFileSync(mainScript, 'utf8').split('\n')[0] ?? '').split(/\s+/).filter((word) => word.startsWith('--'));

/** Starts a daemon; `nodeArgs` go to node itself (e.g. --cpu-prof). */
export async function startBenchDaemon(options: { label: string; nodeArgs?: string[]; extraArgs?: string[] }): Promise<BenchDaemon> {
  const root = mkdtempSync(join(tmpdir(), `scheduler-bench-${options.label}-`));
  const dataDir = join(root, 'data');
  const logPath = join(root, 'daemon.log');
  const logFd = openSync(logPath, 'a');
  // The figures measure firing, not the cap on runs at once (by default a few per CPU): a
  // burst of 1,000 runs must not wait for slots.
  const slots = options.extraArgs?.includes('--max-runs') ? [] : ['--max-runs', '100000'];
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [...programNodeFlags, ...(options.nodeArgs ?? []), mainScript, 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...slots, ...(options.extraArgs ?? [])],
      { cwd: root, stdio: ['ignore', 'pipe', logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  reapAtExit(child, () => rmSync(root, { recursive: true, force: true }));

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
      rmSync(root, { recursive: true, force: true });
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
    return { url, pid: child.pid!, logPath, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
