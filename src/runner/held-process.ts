/**
 * The process of one run, spawned held: bash starts, then waits on a gate pipe (fd 3) before
 * it evaluates the script. Releasing the gate costs a fraction of a millisecond, while
 * spawning costs several (fork copies the daemon's page tables), so a run can be spawned a
 * little ahead of its time and still start on the dot. A held process whose gate is closed
 * without release exits without running anything.
 *
 * The process is a shell in its own session and process group, so the whole tree it forks
 * can be signalled at once. The run ends when the script's main process exits; whatever it
 * left behind in its group is then sent TERM, and KILL after the grace period, as systemd
 * does for a unit.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { formatDuration } from '../core/duration.js';
import type { ResourceLimitName, ResourceLimits } from '../core/execution.js';
import type { RunResult } from '../core/transition.js';
import { OutputCapture } from './output-capture.js';
import { describeLimit, limitFromExit, ulimitPrefix } from './resource-limits.js';
import { needsWatch, RunWatch } from './run-watch.js';
import type { RunWorkspace } from './run-workspace.js';
import type { RunningProcess } from './run-launcher.js';
import { describeStartFailure } from './start-failure.js';
import { withFields } from '../core/with-fields.js';

/**
 * The process of a run as HeldProcess sees it: what node's ChildProcess offers, which the
 * executor's children (executor.ts) offer too. It emits 'spawn', 'error' (it could not start),
 * 'exit' (code, signal) and 'close' (its pipes are closed too).
 */
export interface SpawnedProcess extends EventEmitter {
  /** Known once it is spawned: at once from node's spawn, later from the executor's. */
  readonly pid: number | undefined;
  /** True while another process (the executor) is spawning it: its pid, or its failure, is still to come. */
  readonly spawning?: boolean;
  /** Set when the process that spawned and watched it died before it ended: how it ends is unknown. */
  readonly lostReason?: string | undefined;
  /**
   * Set, before 'exit', by a spawner that looked when it reaped the process (the executor):
   * its process group had nothing left in it, so there is nothing to end.
   */
  readonly groupEmptyAtExit?: boolean;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** [3] is the gate (a GatePipe) */
  readonly stdio: readonly unknown[];
}

/** The write end of the gate, as the held process uses it. */
export interface GatePipe {
  end(bytes?: string): void;
  /**
   * Writes `bytes` and closes, at wall-clock time `atMs` (at once if it has passed), timed by
   * whoever holds the pipe's other side (the executor's timer); node's own pipes have no such
   * thing, and HeldProcess then waits with a timer of its own.
   */
  endAt?(bytes: string, atMs: number): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Starts a process as node's spawn does (the executor's, or tests' that fail as the system can). */
export type SpawnFunction = (command: string, args: readonly string[], options: SpawnOptions) => SpawnedProcess;

/** What a held process needs to know. */
export interface HeldProcessOptions {
  script: string;
  /** The command that runs the script's file; null: the shell evaluates the script itself (bash). */
  interpreter: readonly string[] | null;
  /** Spool files of the run are `${spoolBase}.stdout` and `.stderr`; a long script is written beside them. */
  spoolBase: string;
  outputCap: number;
  killGraceMs: number;
  cwd: string;
  env: NodeJS.ProcessEnv;
  now: () => number;
  /** Ends the run (its whole group, as kill does) this long after it is released; none if absent. */
  timeoutMs?: number;
  /** The resource limits of the run; a run that hits one is ended and says which. */
  limits?: ResourceLimits;
  /** Another user to run as (the daemon is root); the script file, if any, goes to `workspace`, where that user can read it. */
  user?: { uid: number; gid: number };
  /**
   * The run's own directory, when it needs one (another user, or the sandbox): the script
   * file is written there, and it is removed when the run ends.
   */
  workspace?: RunWorkspace;
  /** The sandbox's command prefix (bwrap ... --), given the script file to show it; absent: no sandbox. */
  sandbox?: (scriptFile: string | undefined) => string[];
  /** Starts the process; node's spawn when absent. */
  spawn?: SpawnFunction;
}

/**
 * The gate: wait for "go" on fd 3 and close it; set the run's rlimits (ulimit), which then
 * hold for everything the script starts; then run the script. A held process whose gate is
 * closed without "go" exits 125 without running anything.
 */
const gateWait = 'read -r -u 3 __go && [ "$__go" = go ] || exit 125; exec 3<&-; unset __go; ';
/**
 * Bash scripts are evaluated by the gate shell itself: $1 is the script (or the file that
 * holds it, for scripts too long for one argument). The helper variable is unset inside the
 * eval, before the script's first command, so the script sees a shell as `bash -c` would
 * give it, with no positional parameters. A script file that cannot be read fails the run
 * (126, bash says why on stderr) rather than running an empty script.
 */
const evalInline = '__s=$1; shift; eval "unset __s; $__s"';
const evalFromFile = '__s=$(<"$1") || exit 126; shift; eval "unset __s; $__s"';
/** Other languages, and the sandbox: the command replaces the shell (`exec COMMAND... FILE`). */
const execCommand = 'exec "$@"';

/** Linux allows at most 128 KiB in one argument; longer scripts go through a file. */
const maxInlineScriptBytes = 100 * 1024;

/** A spawned run, waiting to be released. */
export class HeldProcess {
  private readonly child: SpawnedProcess;
  /** The pipe the shell waits on; absent when the process could not be started (no descriptor was left for it). */
  private readonly gate: GatePipe | undefined;
  private readonly stdout: OutputCapture;
  private readonly stderr: OutputCapture;
  private startedAt: number | null = null;
  /** The wall-clock time (Date.now()'s) the script is released at, when that is later than the release() call. */
  private releaseAt: number | undefined;
  /** Waits for `releaseAt` when the gate cannot be written at a time by the other side (node's own pipes). */
  private releaseTimer: NodeJS.Timeout | undefined;
  private killRequested = false;
  private timedOut = false;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private released = false;
  /** The gate was opened (or closed for good): the script runs, or never will. */
  private gateDecided = false;
  /** Its process group is to be ended: at once, or once its pid is known. */
  private ending = false;
  private scriptFile: string | undefined;
  /** The resource limit that ended the run, once one did. */
  private limitHit: { name: ResourceLimitName; detail: string } | undefined;
  private watch: RunWatch | undefined;
  /** Bytes written to stdout and stderr together, for the output limit. */
  private outputBytes = 0;
  /** Why the run could not start, once known: spawn failed, or the run could not be set up before release. */
  private startFailure: unknown;
  /** Settles with how the run ended (or that it never started); never rejects. */
  readonly finished: Promise<RunResult>;

  /**
   * Spawns the process. What fails before a process exists (the script file cannot be
   * written, spawn throws: ENOMEM, EPERM...) is thrown, having removed what was made for it.
   * What node reports later, as an 'error' event (EMFILE, EAGAIN, ENOENT...), ends the run
   * as one that could not start.
   */
  constructor(private readonly options: HeldProcessOptions) {
    this.stdout = new OutputCapture(options.outputCap, `${options.spoolBase}.stdout`);
    this.stderr = new OutputCapture(options.outputCap, `${options.spoolBase}.stderr`);
    try {
      this.child = (options.spawn ?? (spawn as SpawnFunction))('/bin/bash', this.shellArguments(), {
        cwd: options.cwd,
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        detached: true, // its own session and process group
        ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
      });
    } catch (error) {
      this.removeScriptFile();
      throw error;
    }
    // Without a descriptor left for its pipes (EMFILE, ENFILE), node gives the child no stdio at all.
    this.gate = (this.child.stdio?.[3] ?? undefined) as GatePipe | undefined;
    this.gate?.on('error', () => undefined); // the shell went away: its exit says why
    // Spawned by the executor, its pid comes later: what waited for it is done then.
    if (this.child.pid === undefined && this.child.spawning) this.child.once('spawn', () => this.spawned());
    this.finished = this.supervise();
  }

  /** Whether the process failed to start (it never existed): such a process cannot be released to run. */
  get failedToStart(): boolean {
    return this.child.pid === undefined && !this.child.spawning;
  }

  /**
   * Settles once the process exists or is known never to: at once for node's spawn, when
   * the executor answers for its own.
   */
  spawnSettled(): Promise<void> {
    if (this.child.pid !== undefined || !this.child.spawning) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('spawn', () => resolve());
      this.child.once('error', () => resolve());
    });
  }

  /** The process id, which is also its process group id; undefined if it could not start. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Lets the script run now, or at time `notBefore` (of `now`'s clock) if that is later (a fire made
   * a few milliseconds ahead of its time, so that the start is on the dot: the executor's
   * timer then opens the gate). A process that failed to start, or whose watch cannot be set
   * up (no descriptor left to read /proc), is not released: its run ends as one that could
   * not start.
   */
  release(notBefore?: number): RunningProcess {
    const { timeoutMs } = this.options;
    if (this.failedToStart) {
      this.discard();
    } else {
      this.released = true;
      const now = this.options.now();
      this.startedAt = notBefore !== undefined && notBefore > now ? notBefore : now;
      // notBefore is in the runner's clock (`now`, the daemon's wall clock); the gate's timer
      // goes by the machine's, so the wait is carried over as a delay.
      if (this.startedAt > now) this.releaseAt = Date.now() + (this.startedAt - now);
      // A run whose limits need the /proc watch opens its gate once the watch has its process
      // group; any other at once, even before the executor has said the process exists (it
      // handles the gate after the spawn).
      if (this.pid !== undefined || !this.needsWatch()) this.openGate();
      if (timeoutMs !== undefined) {
        // The bound counts from the script's start.
        this.timeoutTimer = setTimeout(() => {
          this.timedOut = true;
          this.endGroup();
        }, timeoutMs + (this.startedAt - now));
      }
    }
    const held = this;
    return {
      get pid() {
        return held.pid;
      },
      finished: this.finished,
      kill: () => {
        this.killRequested = true;
        this.endGroup();
        return this.finished;
      },
      listen: (listener) => {
        this.stdout.listener = (offset, chunk) => listener('stdout', offset, chunk);
        this.stderr.listener = (offset, chunk) => listener('stderr', offset, chunk);
      },
      outputSoFar: () => ({ stdout: this.stdout.delivered(), stderr: this.stderr.delivered() }),
    };
  }

  /** The spool files its output may have been written to (see OutputCapture.spooledFiles). */
  spooledFiles(): string[] {
    return [...this.stdout.spooledFiles(), ...this.stderr.spooledFiles()];
  }

  /** Makes a process that will not be released exit without running the script. */
  discard(): void {
    if (this.released) return;
    this.closeGate();
    this.endGroup();
  }

  private needsWatch(): boolean {
    const { limits } = this.options;
    return limits !== undefined && needsWatch(limits);
  }

  /**
   * Lets the script run, first setting up the watch of its limits if it needs one. A watch
   * that cannot be set up (no descriptor left to read /proc) keeps the gate shut: the run ends
   * as one that could not start.
   */
  private openGate(): void {
    if (this.gateDecided) return;
    if (this.needsWatch()) {
      try {
        this.watch = new RunWatch({ pgid: this.pid!, limits: this.options.limits!, onLimit: (name, detail) => this.hitLimit(name, detail) });
      } catch (error) {
        this.startFailure = error;
        this.closeGate();
        this.endGroup();
        return;
      }
    }
    this.gateDecided = true;
    const at = this.releaseAt;
    if (at === undefined) {
      this.gate?.end('go\n');
    } else if (this.gate?.endAt) {
      this.gate.endAt('go\n', at);
    } else {
      this.releaseTimer = setTimeout(() => this.gate?.end('go\n'), Math.max(0, at - Date.now()));
    }
  }

  /** Closes the gate without "go": the shell exits without running the script. */
  private closeGate(): void {
    if (this.gateDecided) return;
    this.gateDecided = true;
    this.gate?.end();
  }

  /** The executor has spawned the process: what waited for its pid goes ahead. */
  private spawned(): void {
    if (this.ending) {
      this.closeGate();
      this.endGroup();
    } else if (this.released) {
      this.openGate();
    }
  }

  private shellArguments(): string[] {
    const { script, interpreter, sandbox, limits } = this.options;
    const gate = gateWait + ulimitPrefix(limits ?? {});
    const inline = Buffer.byteLength(script) <= maxInlineScriptBytes;
    if (sandbox) {
      // bash reads a script file itself; only an inline script can be given as an argument.
      const file = interpreter !== null || !inline ? this.writeScriptFile() : undefined;
      const command = interpreter !== null ? [...interpreter, file!] : inline ? ['/bin/bash', '-c', script, 'bash'] : ['/bin/bash', file!];
      return ['-c', gate + execCommand, 'bash', ...sandbox(file), ...command];
    }
    if (interpreter !== null) return ['-c', gate + execCommand, 'bash', ...interpreter, this.writeScriptFile()];
    if (inline) return ['-c', gate + evalInline, 'bash', script];
    return ['-c', gate + evalFromFile, 'bash', this.writeScriptFile()];
  }

  /**
   * Writes the script to a file: in the run's workspace when it has one (the run's user must
   * read it), else in the spool, named for this process alone (a discarded process and a
   * fresh one for the same run must not share, or delete, each other's file). It is removed
   * when the process ends.
   */
  private writeScriptFile(): string {
    const { workspace, spoolBase, script } = this.options;
    if (workspace) return (this.scriptFile = workspace.writeScript(script));
    const file = `${spoolBase}.${randomBytes(4).toString('hex')}.sh`;
    writeFileSync(file, script, { mode: 0o600 });
    return (this.scriptFile = file);
  }

  /** Removes the script file, if one was written; unlink needs no descriptor, so this fails only if it is gone already. */
  private removeScriptFile(): void {
    if (this.scriptFile === undefined) return;
    try {
      rmSync(this.scriptFile, { force: true });
    } catch {
      // Left for the next start of the daemon, which removes every script file of the spool.
    }
  }

  /** Ends the run because it hit a resource limit (the first one it hit is the one recorded). */
  private hitLimit(name: ResourceLimitName, detail: string): void {
    if (this.limitHit || this.killRequested || this.timedOut) return;
    this.limitHit = { name, detail };
    this.endGroup();
  }

  /** Counts output against the output limit. */
  private countOutput(bytes: number): void {
    this.outputBytes += bytes;
    const limit = this.options.limits?.outputBytes;
    if (limit !== undefined && this.outputBytes > limit) this.hitLimit('output', `${this.outputBytes} bytes written`);
  }

  private supervise(): Promise<RunResult> {
    const { child, stdout, stderr, options } = this;
    return new Promise<RunResult>((resolve) => {
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let exitedAt: number | undefined;
      let settled = false;
      let pipesDeadline: NodeJS.Timeout | undefined;

      const settle = async () => {
        if (settled) return;
        settled = true;
        clearTimeout(this.timeoutTimer);
        clearTimeout(pipesDeadline);
        await Promise.all([stdout.close(), stderr.close()]);
        this.watch?.stop();
        this.removeScriptFile();
        options.workspace?.remove();
        const output = { stdout: stdout.result(), stderr: stderr.result(), outputCap: options.outputCap };
        // The run ended when its main process exited, even if what it left behind held the
        // pipes open a while longer (that output still belongs to it).
        const common = { startedAt: this.startedAt, finishedAt: exitedAt ?? options.now(), ...output };
        if (this.child.lostReason !== undefined && this.startFailure === undefined) {
          // Whatever the run did after the executor died is unknown: it is ended (its group
          // was signalled on the exit the loss gave), with the output received until then.
          resolve(withFields(common, { outcome: 'interrupted' as const, exitCode: null, signal: null, error: `${this.child.lostReason}; its processes were ended` }));
          return;
        }
        if (this.startFailure !== undefined || !exit) {
          const error = describeStartFailure(this.startFailure ?? new Error('the process ended before it was known to start'), options.cwd);
          resolve(withFields(common, { startedAt: null, outcome: 'failed' as const, exitCode: null, signal: null, error }));
          return;
        }
        if (this.timedOut) {
          const limit = formatDuration(options.timeoutMs ?? 0);
          resolve(withFields(common, { outcome: 'timed_out' as const, exitCode: exit.code, signal: exit.signal, error: `timed out after ${limit}`, limit: 'wall_time' as const }));
          return;
        }
        // A limit the watch or the output count saw, else one the kernel enforced (CPU time, open files).
        const enforced = this.killRequested ? null : limitFromExit(options.limits ?? {}, exit, this.watch, output.stderr.text);
        const limit = this.limitHit ?? (enforced === null ? undefined : { name: enforced, detail: '' });
        if (limit) {
          const error = `${describeLimit(limit.name, options.limits ?? {})}${limit.detail ? `: ${limit.detail}` : ''}`;
          resolve(withFields(common, { outcome: 'failed' as const, exitCode: exit.code, signal: exit.signal, error, limit: limit.name }));
          return;
        }
        const ended = this.killRequested ? ' (the run was ended on request)' : '';
        resolve(withFields(common, {
          outcome: exit.code === 0 ? ('succeeded' as const) : ('failed' as const),
          exitCode: exit.code,
          signal: exit.signal,
          error: exit.signal !== null ? `killed by ${exit.signal}${ended}` : null,
        }));
      };

      // A process that could not start has no pipes, or pipes that were never opened.
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout.write(chunk);
        this.countOutput(chunk.length);
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr.write(chunk);
        this.countOutput(chunk.length);
      });
      // A pipe that fails (it cannot: the shell holds the other end) must not end the daemon; the exit says how the run ended.
      child.stdout?.on('error', () => undefined);
      child.stderr?.on('error', () => undefined);
      child.on('error', (error) => {
        // After a start, 'error' only means a signal could not be sent: the exit still comes.
        if (child.pid !== undefined) return;
        this.startFailure ??= error;
        void settle();
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        exitedAt = options.now();
        clearTimeout(this.timeoutTimer);
        this.watch?.stop();
        // The run is over when its main process exits: end what it left in its group, if
        // anything (a signal to an empty group is an exception: a tenth of the daemon's
        // work per run in a burst).
        this.endGroup(child.groupEmptyAtExit === true);
        // A process that escaped the group may hold the pipes open: do not wait for it forever.
        pipesDeadline = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          void settle();
        }, options.killGraceMs + 1000).unref();
      });
      child.on('close', () => void settle());
    });
  }

  /**
   * TERM to the whole group now, KILL after the grace period if anything is left; once
   * spawned, if it is not yet. `groupGone`: the group is known to be empty, and is not signalled.
   */
  private endGroup(groupGone = false): void {
    this.ending = true;
    clearTimeout(this.releaseTimer);
    const pgid = this.child.pid;
    if (groupGone || pgid === undefined || !signalGroup(pgid, 'SIGTERM')) return;
    setTimeout(() => signalGroup(pgid, 'SIGKILL'), this.options.killGraceMs).unref();
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
