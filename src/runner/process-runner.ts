/**
 * Starts the processes of runs (see HeldProcess for how each is supervised), optionally a
 * little ahead of their time, and keeps the spool that lets a restarted daemon recover
 * their output. The runner does I/O only: it returns how each run ended and never touches
 * storage.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultExecution, effectiveLimits, type ExecutionSettings, type ResourceLimits } from '../core/execution.js';
import { builtInInterpreters, defaultLanguage, type Interpreters } from '../core/interpreters.js';
import { HeldProcess, type SpawnFunction } from './held-process.js';
import { recoverCapture, tailSpoolPath } from './output-capture.js';
import { killOrphanedRuns } from './orphans.js';
import { daemonAccount, lookUpUser, runEnvironment, type UserAccount } from './run-environment.js';
import { RunWorkspace } from './run-workspace.js';
import { sandboxCommand, sandboxIdentity } from './sandbox.js';
import type { RecoveredOutput, RunLauncher, RunningProcess, RunSpec } from './run-launcher.js';
import { describeStartFailure, notStarted } from './start-failure.js';

/** How the runner starts scripts. */
export interface ProcessRunnerOptions {
  /** Where output is spooled while runs execute (it survives a crash of the daemon). */
  spoolDir: string;
  /** Per-stream output cap in bytes. */
  outputCap: number;
  /** Between TERM and KILL when a run's processes are ended. */
  killGraceMs: number;
  /** The working directory of scripts that run as the daemon's user and set none. */
  cwd: string;
  /** The daemon's environment: the base variables of every run are read from it (see run-environment.ts), nothing else. */
  daemonEnv: NodeJS.ProcessEnv;
  /** Variables every run gets (the config file's `env`). */
  variables?: Readonly<Record<string, string>>;
  /** Each run's limits where its task sets none. */
  defaultLimits?: ResourceLimits;
  /** Each run's wall time where its task has no timeout. */
  defaultTimeoutMs?: number;
  /** Where runs that need a directory of their own (another user, the sandbox) get one; outside the data directory. */
  workRoot: string;
  /** Host paths the sandbox shows read-only besides the system's. */
  sandboxReadOnlyPaths?: readonly string[];
  /** The bwrap program, when not the one in PATH. */
  bwrap?: string;
  /**
   * The daemon runs every script in the sandbox (--sandbox required): a task stored without
   * it (submitted before the daemon required it) fails to start rather than run outside.
   */
  sandboxRequired?: boolean;
  /** The clock the run's start and end times are read from. */
  now: () => number;
  /** Marks every run's processes (SCHEDULER_DAEMON_ID), so a later daemon on the same data directory can find them. */
  daemonId: string;
  /** The command of each language; the built-in ones when absent. */
  interpreters?: Interpreters;
  /** Told of every run that could not start (pino's logger fits). */
  log?: { warn(details: object, message: string): void };
  /** Starts processes; node's spawn when absent (tests make it fail as the system can). */
  spawn?: SpawnFunction;
}

/**
 * While runs execute, the runner touches `spool/heartbeat` this often: after a crash, the
 * file's time says until when the daemon knew its runs alive.
 */
export const heartbeatIntervalMs = 2000;

/** Spool files of a run, beside its script files: the head of each stream, its tail, and a tail being written. */
const spoolSuffixes = ['.stdout', '.stderr', ...['.stdout', '.stderr'].flatMap((stream) => [tailSpoolPath(stream), `${tailSpoolPath(stream)}.tmp`])];

/**
 * Processes prepared ahead of time are held at most this many at once. A held shell costs
 * about 0.4 MB (its private pages and the kernel's share; it uses no CPU), so the bound keeps
 * them to about 1/32 of the machine's memory: 1,024 from 16 GB, 64 on a 1 GB machine. A burst
 * larger than that starts its last runs cold.
 */
export function preparedBound(memoryBytes: number): number {
  return Math.min(1024, Math.max(64, Math.floor(memoryBytes / 32 / (512 * 1024))));
}
const maxPrepared = preparedBound(totalmem());
/**
 * ...and are discarded if their run has not started this long after they were prepared: the
 * firing loop prepares up to two seconds ahead, and a run of a burst may then wait for a slot
 * a few seconds more.
 */
const preparedLifetimeMs = 10_000;

/** What became of the processes prepared ahead of their runs (the daemon's metrics show it). */
export interface PreparedProcesses {
  /** Held at their gates now, waiting for their runs. */
  held: number;
  /** Runs started from a prepared process since the daemon started (the others started cold). */
  used: number;
  /** Prepared processes ended unused: their task changed, was paused or deleted, or the run had not started in time. */
  discarded: number;
}

/** Starts scripts as supervised process groups. */
export class ProcessRunner implements RunLauncher {
  private readonly prepared = new Map<string, { spec: RunSpec; process: HeldProcess; expiry: NodeJS.Timeout }>();
  private preparedUsed = 0;
  private preparedDiscarded = 0;
  /** Absolute: a long script's file is read by bash, which runs in the scripts' cwd, not the daemon's. */
  private readonly spoolDir: string;

  /** The user the daemon runs as, whose scripts run as it unless their task names another. */
  private readonly daemonUser = daemonAccount();
  /** The last heartbeat of the daemon that ran before this one, if it left one. */
  private readonly previousHeartbeat: number | undefined;
  private readonly heartbeatPath: string;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Runs started and not yet ended. */
  private running = 0;
  /** The processes of runs started here whose spool is not removed yet (removeSpool), by runKey. */
  private readonly startedHere = new Map<string, HeldProcess>();

  constructor(private readonly options: ProcessRunnerOptions) {
    this.spoolDir = resolve(options.spoolDir);
    mkdirSync(this.spoolDir, { recursive: true, mode: 0o700 });
    this.heartbeatPath = join(this.spoolDir, 'heartbeat');
    this.previousHeartbeat = mtimeOf(this.heartbeatPath);
    // Script files belong to processes, which remove them, and so do half-written tails; one
    // left here is from a daemon that died (its output files stay: they are recovered with
    // the interrupted runs).
    for (const name of readdirSync(this.spoolDir)) {
      if (name.endsWith('.sh') || name.endsWith('.tmp')) rmSync(join(this.spoolDir, name), { force: true });
    }
    // Likewise the workspaces (scratch directories, script files) of that daemon's runs.
    rmSync(options.workRoot, { recursive: true, force: true });
  }

  /**
   * Spawns the run's process ahead of time; resolves once it exists (or failed to), which
   * the executor says later. What cannot be prepared is thrown (the caller logs it) or
   * dropped (a process that failed to start, as when no descriptor is left; one past the
   * bound): either way start() then starts the run cold.
   */
  async prepare(spec: RunSpec): Promise<void> {
    const key = runKey(spec.taskId, spec.run);
    if (this.prepared.has(key) || this.prepared.size >= maxPrepared) return;
    const process = this.spawnHeld(spec);
    if (process.failedToStart) {
      process.discard();
      return;
    }
    const expiry = setTimeout(() => this.discard(key), preparedLifetimeMs).unref();
    this.prepared.set(key, { spec, process, expiry });
    await process.spawnSettled();
    // It could not start after all (the executor refused it, or died): start() then spawns anew.
    if (process.failedToStart && this.prepared.get(key)?.process === process) this.discard(key);
  }

  /**
   * Starts a run now. It never throws: a run that cannot start (no file descriptor, process
   * slot or memory left; its language or user gone) is returned as a run that failed
   * without starting, saying why, and the daemon goes on serving.
   */
  start(spec: RunSpec): RunningProcess {
    return this.beating(this.release(spec));
  }

  private release(spec: RunSpec): RunningProcess {
    const key = runKey(spec.taskId, spec.run);
    const ready = this.prepared.get(key);
    let running: RunningProcess;
    if (ready) {
      const same = ready.spec.script === spec.script && ready.spec.timeoutMs === spec.timeoutMs && ready.spec.lang === spec.lang &&
        sameExecution(ready.spec.execution, spec.execution);
      if (same && !ready.process.failedToStart) {
        clearTimeout(ready.expiry);
        this.prepared.delete(key);
        this.preparedUsed++;
        return this.reportFailure(spec, this.released(key, ready.process, spec.notBefore));
      }
      this.discard(key);
    }
    try {
      running = this.released(key, this.spawnHeld(spec), spec.notBefore);
    } catch (error) {
      running = notStarted(describeStartFailure(error), this.options.now(), this.options.outputCap);
    }
    return this.reportFailure(spec, running);
  }

  /** Releases `process` (at `notBefore`, if that is to come), remembering it until its spool is removed. */
  private released(key: string, process: HeldProcess, notBefore: number | undefined): RunningProcess {
    this.startedHere.set(key, process);
    return process.release(notBefore);
  }

  /** Keeps the heartbeat going while `process` (and any other run) executes. */
  private beating(process: RunningProcess): RunningProcess {
    if (this.running++ === 0) this.heartbeat = setInterval(() => this.beat(), heartbeatIntervalMs).unref();
    const ended = () => {
      if (--this.running === 0) clearInterval(this.heartbeat);
    };
    process.finished.then(ended, ended);
    return process;
  }

  /** Sets the heartbeat file's time to now (creating it the first time). */
  private beat(): void {
    const now = new Date(this.options.now());
    try {
      utimesSync(this.heartbeatPath, now, now);
    } catch {
      try {
        closeSync(openSync(this.heartbeatPath, 'a'));
        utimesSync(this.heartbeatPath, now, now);
      } catch {
        // The disk is full or the spool is gone: interrupted runs get an earlier end time, nothing worse.
      }
    }
  }

  /** How many processes are held prepared now, and what became of the others. */
  preparedProcesses(): PreparedProcesses {
    return { held: this.prepared.size, used: this.preparedUsed, discarded: this.preparedDiscarded };
  }

  discardPrepared(taskId?: string): void {
    // Deleting the entry being visited is safe in a Map's iteration; no copy is made, as the
    // engine asks this of every run's end that leaves its task done.
    for (const [key, { spec }] of this.prepared) if (taskId === undefined || spec.taskId === taskId) this.discard(key);
  }

  /**
   * The head and tail each stream spooled (see OutputCapture), and when the run was last
   * known alive: the latest of the times its spool files were written and of the last
   * heartbeat of the daemon that ran it.
   */
  async recoverOutput(taskId: string, run: number): Promise<RecoveredOutput> {
    const base = this.spoolBase(taskId, run);
    const times = [this.previousHeartbeat, ...spoolSuffixes.map((suffix) => mtimeOf(`${base}${suffix}`))].filter((time) => time !== undefined);
    return {
      stdout: recoverCapture(`${base}.stdout`),
      stderr: recoverCapture(`${base}.stderr`),
      ...(times.length > 0 ? { lastAliveAt: Math.max(...times) } : {}),
    };
  }

  async killOrphans(): Promise<number> {
    return killOrphanedRuns(this.options.daemonId);
  }

  removeSpool(taskId: string, run: number): void {
    const key = runKey(taskId, run);
    const startedHere = this.startedHere.get(key);
    this.startedHere.delete(key);
    // A run started here removes the files it wrote, most often none (a stream that printed
    // nothing) or one; a run of an earlier daemon every file it may have left. Each file is
    // a syscall or two, which a burst of a thousand runs feels.
    const base = this.spoolBase(taskId, run);
    const paths = startedHere ? startedHere.spooledFiles() : spoolSuffixes.map((suffix) => `${base}${suffix}`).filter((path) => existsSync(path));
    for (const path of paths) {
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  /** Logs the run if it could not start (its result says why), and returns it. */
  private reportFailure(spec: RunSpec, running: RunningProcess): RunningProcess {
    const { log } = this.options;
    if (log) {
      void running.finished.then((result) => {
        if (result.startedAt === null) log.warn({ task: spec.taskId, run: spec.run, reason: result.error }, 'a run could not start');
      });
    }
    return running;
  }

  private spawnHeld(spec: RunSpec): HeldProcess {
    const { options } = this;
    const spoolBase = this.spoolBase(spec.taskId, spec.run);
    const interpreters = options.interpreters ?? builtInInterpreters;
    const lang = spec.lang ?? defaultLanguage;
    // Own properties only: "constructor" or "toString" is not a language.
    const interpreter = Object.hasOwn(interpreters, lang) ? interpreters[lang] : undefined;
    // A task stored when its language was configured, run by a daemon whose config no longer has it.
    if (interpreter === undefined) throw new Error(`the language "${lang}" is not configured on this daemon (its --config file)`);
    const execution = spec.execution ?? defaultExecution;
    if (options.sandboxRequired && !execution.sandbox) {
      throw new Error('this daemon runs every script in its sandbox (--sandbox required), and this task was submitted without it; submit it again');
    }
    const account = execution.user === null ? this.daemonUser : runAsAccount(execution.user);
    const asOther = account.uid !== this.daemonUser.uid ? { uid: account.uid, gid: account.gid } : undefined;
    // The run's user owns its workspace: the sandbox's (nobody, under a root daemon), or the task's.
    const owner = execution.sandbox ? sandboxIdentity() : asOther;
    const workspace = owner ? RunWorkspace.create(options.workRoot, spec.taskId, spec.run, owner) : undefined;
    const timeoutMs = spec.timeoutMs ?? options.defaultTimeoutMs;
    // Until the process exists, nothing else would remove the workspace.
    try {
      const scratch = execution.sandbox ? workspace!.makeScratch() : undefined;
      return new HeldProcess({
        script: spec.script,
        interpreter,
        spoolBase,
        outputCap: options.outputCap,
        killGraceMs: options.killGraceMs,
        cwd: scratch ?? execution.cwd ?? (asOther ? homeOrRoot(account.home) : options.cwd),
        env: runEnvironment({
          daemonEnv: options.daemonEnv,
          user: account,
          ...(scratch === undefined ? {} : { home: scratch }),
          daemonVariables: options.variables ?? {},
          taskVariables: execution.env,
          runVariables: { SCHEDULER_TASK_ID: spec.taskId, SCHEDULER_RUN: String(spec.run), SCHEDULER_DAEMON_ID: options.daemonId },
        }),
        now: options.now,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        limits: effectiveLimits(execution.limits, options.defaultLimits ?? {}),
        ...(asOther ? { user: asOther } : {}),
        ...(workspace ? { workspace } : {}),
        ...(options.spawn === undefined ? {} : { spawn: options.spawn }),
        ...(scratch === undefined
          ? {}
          : {
              sandbox: (scriptFile: string | undefined) =>
                sandboxCommand({
                  scratchDir: scratch,
                  network: execution.network,
                  readOnlyFiles: scriptFile === undefined ? [] : [scriptFile],
                  extraReadOnlyDirs: [...(options.sandboxReadOnlyPaths ?? [])],
                  ...(options.bwrap === undefined ? {} : { bwrap: options.bwrap }),
                }),
            }),
      });
    } catch (error) {
      workspace?.remove();
      throw error;
    }
  }

  private discard(key: string): void {
    const entry = this.prepared.get(key);
    if (!entry) return;
    clearTimeout(entry.expiry);
    this.prepared.delete(key);
    this.preparedDiscarded++;
    // It never ran its script, so it wrote nothing to the run's spool.
    entry.process.discard();
  }

  private spoolBase(taskId: string, run: number): string {
    // Task ids are limited to [A-Za-z0-9._-], so they are safe in a file name.
    return join(this.spoolDir, `${taskId}.${run}`);
  }
}

/** The account of a task's user, which may have gone since the task was submitted. */
function runAsAccount(name: string): UserAccount {
  const account = lookUpUser(name);
  if (!account) throw new Error(`there is no user "${name}" on this host any more`);
  return account;
}

/**
 * Whether a process prepared with `prepared` settings can serve a run with `wanted`. They
 * come from two reads of the same stored task (settings never change after submission), so
 * they are equal unless the task was replaced; compared by value, as they are not the same
 * objects.
 */
function sameExecution(prepared: ExecutionSettings | undefined, wanted: ExecutionSettings | undefined): boolean {
  return prepared === wanted || JSON.stringify(prepared ?? defaultExecution) === JSON.stringify(wanted ?? defaultExecution);
}

/** A user's home directory, or / when it has none (nobody's is /nonexistent), as login does. */
function homeOrRoot(home: string): string {
  return existsSync(home) ? home : '/';
}

/** When the file at `path` was last written, in milliseconds; undefined when there is none. */
function mtimeOf(path: string): number | undefined {
  try {
    return Math.floor(statSync(path).mtimeMs);
  } catch {
    return undefined;
  }
}

function runKey(taskId: string, run: number): string {
  return `${taskId}\n${run}`;
}
