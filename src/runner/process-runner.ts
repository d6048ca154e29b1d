/**
 * Spawns and supervises the processes of runs. Each run is a shell in its own session and
 * process group, so the whole tree it forks can be signalled at once. The run ends when the
 * script's main process exits; whatever it left behind in its group is then sent TERM, and
 * KILL after the grace period, as systemd does for a unit. The runner does I/O only: it
 * returns how the run ended and never touches storage.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CapturedOutput } from '../core/task.js';
import type { RunResult } from '../core/transition.js';
import { killOrphanedRuns } from './orphans.js';
import { OutputCapture } from './output-capture.js';
import type { RunLauncher } from './run-launcher.js';

/** How the runner starts scripts. */
export interface ProcessRunnerOptions {
  /** Where output is spooled while runs execute (it survives a crash of the daemon). */
  spoolDir: string;
  /** Per-stream output cap in bytes. */
  outputCap: number;
  /** Between TERM and KILL when a run's processes are ended. */
  killGraceMs: number;
  /** The working directory of scripts. */
  cwd: string;
  /** The environment of scripts. */
  env: NodeJS.ProcessEnv;
  /** The clock the run's start and end times are read from. */
  now: () => number;
  /** Marks every run's processes (SCHEDULER_DAEMON_ID), so a later daemon on the same data directory can find them. */
  daemonId: string;
}

/** What to run. */
export interface RunSpec {
  taskId: string;
  run: number;
  script: string;
}

/** A run whose process has been started. */
export interface RunningProcess {
  /** The process id, which is also the process group id; undefined if it could not start. */
  readonly pid: number | undefined;
  /** Settles with how the run ended; never rejects. */
  readonly finished: Promise<RunResult>;
  /** Ends the run's whole process group: TERM, then KILL after the grace period. */
  kill(): Promise<RunResult>;
}

/** Linux allows at most this many bytes in one argument; longer scripts go through a file. */
const maxInlineScriptBytes = 100 * 1024;

/** Starts scripts as supervised process groups. */
export class ProcessRunner implements RunLauncher {
  constructor(private readonly options: ProcessRunnerOptions) {
    mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
  }

  /** Starts a run now. */
  start(spec: RunSpec): RunningProcess {
    const { options } = this;
    const base = this.spoolBase(spec.taskId, spec.run);
    const startedAt = options.now();
    const stdout = new OutputCapture(options.outputCap, `${base}.stdout`);
    const stderr = new OutputCapture(options.outputCap, `${base}.stderr`);
    const args = this.shellArgs(spec, base);

    const child = spawn('/bin/bash', args, {
      cwd: options.cwd,
      env: {
        ...options.env,
        SCHEDULER_TASK_ID: spec.taskId,
        SCHEDULER_RUN: String(spec.run),
        SCHEDULER_DAEMON_ID: options.daemonId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own session and process group
    });
    const pid = child.pid;
    let killRequested = false;

    const finished = new Promise<RunResult>((resolve) => {
      let spawnError: Error | undefined;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let settled = false;

      const settle = async () => {
        if (settled) return;
        settled = true;
        await Promise.all([stdout.close(), stderr.close()]);
        this.removeSpool(spec.taskId, spec.run);
        const finishedAt = options.now();
        const output = { stdout: stdout.result(), stderr: stderr.result(), outputCap: options.outputCap };
        if (spawnError || !exit) {
          resolve({
            outcome: 'failed',
            startedAt,
            finishedAt,
            exitCode: null,
            signal: null,
            error: `the script could not be started: ${spawnError?.message ?? 'unknown error'}`,
            ...output,
          });
          return;
        }
        resolve({
          outcome: exit.code === 0 ? 'succeeded' : 'failed',
          startedAt,
          finishedAt,
          exitCode: exit.code,
          signal: exit.signal,
          error:
            exit.signal !== null
              ? `killed by ${exit.signal}${killRequested ? ' (the run was ended on request)' : ''}`
              : null,
          ...output,
        });
      };

      child.stdout!.on('data', (chunk: Buffer) => stdout.write(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.write(chunk));
      child.on('error', (error) => {
        spawnError = error;
        if (pid === undefined) void settle();
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        // The run is over when its main process exits: end what it left in its group.
        if (pid !== undefined) this.endGroup(pid);
        // A process that escaped the group may hold the pipes open: do not wait for it forever.
        setTimeout(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          void settle();
        }, options.killGraceMs + 1000).unref();
      });
      child.on('close', () => void settle());
    });

    return {
      pid,
      finished,
      kill: () => {
        killRequested = true;
        if (pid !== undefined) this.endGroup(pid);
        return finished;
      },
    };
  }

  /** The output a run had spooled when the daemon stopped, for a run found interrupted. */
  recoverOutput(taskId: string, run: number): { stdout: CapturedOutput; stderr: CapturedOutput } {
    const base = this.spoolBase(taskId, run);
    const read = (path: string): CapturedOutput => {
      try {
        const bytes = readFileSync(path);
        const kept = bytes.subarray(0, this.options.outputCap);
        return { text: kept.toString('utf8'), totalBytes: bytes.length, truncated: bytes.length > kept.length };
      } catch {
        return { text: '', totalBytes: 0, truncated: false };
      }
    };
    return { stdout: read(`${base}.stdout`), stderr: read(`${base}.stderr`) };
  }

  killOrphans(): number {
    return killOrphanedRuns(this.options.daemonId);
  }

  /** Deletes the spool files of a run once its output is recorded. */
  removeSpool(taskId: string, run: number): void {
    const base = this.spoolBase(taskId, run);
    for (const suffix of ['.stdout', '.stderr', '.sh']) rmSync(`${base}${suffix}`, { force: true });
  }

  /** TERM to the whole group now, KILL after the grace period if anything is left. */
  private endGroup(pgid: number): void {
    if (!signalGroup(pgid, 'SIGTERM')) return;
    setTimeout(() => signalGroup(pgid, 'SIGKILL'), this.options.killGraceMs).unref();
  }

  private shellArgs(spec: RunSpec, base: string): string[] {
    if (Buffer.byteLength(spec.script) <= maxInlineScriptBytes) return ['-c', spec.script];
    writeFileSync(`${base}.sh`, spec.script, { mode: 0o600 });
    return [`${base}.sh`];
  }

  private spoolBase(taskId: string, run: number): string {
    // Task ids are limited to [A-Za-z0-9._-], so they are safe in a file name.
    return join(this.options.spoolDir, `${taskId}.${run}`);
  }
}

/** Sends a signal to a process group; false when the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
