/**
 * The daemon's side of its executor: a small long-lived process (src/executor/, built into
 * dist/executor/scheduler-executor) that spawns the runs' processes with vfork, so that a spawn
 * no longer copies the daemon's page tables and costs the same whatever the daemon's heap.
 *
 * It offers a spawn function shaped like node's, so that HeldProcess supervises an executor's
 * child as it would one of its own: the same gate, limits, timeouts, kills (signals to the
 * process group, sent from here) and output capture. Only the fork and the pipes move; the
 * output travels from the executor in frames (executor-protocol.ts).
 *
 * If the executor dies, each of its runs ends as lost (HeldProcess records it interrupted, with
 * the output received so far, and ends its process group), a spawn it had not answered fails,
 * and a new executor starts; the daemon goes on serving.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { closeOutputFrame, EventReader, gateAtFrame, gateFrame, spawnFrame, type ExecutorEvent } from './executor-protocol.js';
import type { GatePipe, SpawnedProcess, SpawnFunction } from './held-process.js';

/**
 * Where `npm run build` puts the executor: dist/executor/, seen from this module in
 * dist/src/runner/ (the daemon) or in src/runner/ (tests run the sources).
 */
export const executorProgram = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../executor/scheduler-executor' : '../../dist/executor/scheduler-executor', import.meta.url),
);

/** Whether the executor was built (it needs a C compiler); the daemon spawns runs itself when not. */
export function executorBuilt(program = executorProgram): boolean {
  try {
    accessSync(program, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ExecutorOptions {
  program?: string;
  /** Told when the executor dies and is replaced (pino's logger fits). */
  log?: { error(details: object, message: string): void };
}

/** A new executor is started at once when one dies, but not more than once in this long. */
const restartIntervalMs = 1000;

const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, number]) => [number, name]));
const signalNames = new Map(Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/** The executor process and the children it spawned for this daemon. */
export class Executor {
  private process: ChildProcess | undefined;
  private readonly children = new Map<number, ExecutorChild>();
  private nextId = 1;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** How many times an executor died and was replaced. */
  restarts = 0;

  constructor(private readonly options: ExecutorOptions = {}) {
    this.launch();
  }

  /** The executor's process id, while one runs. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Spawns through the executor; shaped like node's spawn, for HeldProcess. */
  readonly spawn: SpawnFunction = (command: string, args: readonly string[], options: SpawnOptions): SpawnedProcess => {
    const id = this.nextId++;
    const child = new ExecutorChild(id, command, (frame) => this.send(frame), () => this.children.delete(id));
    const executor = this.process;
    if (!executor?.stdin?.writable) {
      // Told on the next tick, as node's spawn tells its failures: the caller listens by then.
      const why = this.closed ? 'the executor was shut down (the daemon is stopping)' : 'the executor process is restarting';
      process.nextTick(() => child.failToSpawn(new Error(`${why}; the run could not be handed to it`)));
      return child;
    }
    // Like node's spawn: a variable whose value is undefined is left out.
    const env = Object.entries(options.env ?? process.env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
    // Arguments it cannot carry are thrown, before any process exists, as node's spawn does.
    const frame = spawnFrame(id, {
      argv: [command, ...args],
      env,
      cwd: options.cwd === undefined ? '' : String(options.cwd),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    this.children.set(id, child);
    this.send(frame);
    return child;
  };

  /** Ends the executor once the daemon no longer needs it (its runs have ended); resolves when it has exited. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const executor = this.process;
    if (!executor || executor.exitCode !== null || executor.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => executor.once('exit', () => resolve()));
    executor.stdin?.end();
    const force = setTimeout(() => executor.kill('SIGKILL'), 5000).unref();
    await exited;
    clearTimeout(force);
  }

  /**
   * At once, frame by frame: the executor starts spawning the first runs of a burst while the
   * daemon is still firing the rest. (Holding the frames of one turn of the event loop for one
   * write saved a write per round in a burst through few slots, but nothing measurable, and
   * would hold a burst's first spawns until its last fire.)
   */
  private send(frame: Buffer): void {
    this.process?.stdin?.write(frame);
  }

  private launch(): void {
    this.startedAt = Date.now();
    const executor = nodeSpawn(this.options.program ?? executorProgram, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.process = executor;
    const reader = new EventReader();
    executor.stdout!.on('data', (chunk: Buffer) => {
      for (const event of reader.push(chunk)) this.dispatch(event);
    });
    // Its pipes fail only when it is gone, which its exit reports.
    executor.stdin!.on('error', () => undefined);
    executor.stdout!.on('error', () => undefined);
    // It could not be started at all (its program is gone): as if it had died at once.
    executor.on('error', () => {
      if (executor.pid === undefined) this.lost(executor, null, null);
    });
    // On 'close', not 'exit': once its pipe to the daemon is read to the end, so that the
    // output it relayed before it died is kept in its runs' records ('exit' can come first).
    // Its children do not hold that pipe (the executor makes it close-on-exec).
    executor.once('close', (code, signal) => this.lost(executor, code, signal));
  }

  private dispatch(event: ExecutorEvent): void {
    const child = this.children.get(event.id);
    if (!child) return;
    switch (event.type) {
      case 'spawned':
        child.spawned(event.pid);
        break;
      case 'spawnFailed':
        child.failToSpawn(spawnError(child.command, event.errno));
        break;
      case 'output':
        child.output(event.stream, event.bytes);
        break;
      case 'eof':
        child.endOfStream(event.stream);
        break;
      case 'exit':
        child.exited(event.code, event.signal === null ? null : (signalNames.get(event.signal) ?? null), event.groupLeft);
        break;
    }
  }

  /** The executor died (or could not start): its children are lost, and another one starts. */
  private lost(executor: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.process !== executor) return;
    this.process = undefined;
    const children = [...this.children.values()];
    this.children.clear();
    const how = signal !== null ? `killed by ${signal}` : code !== null ? `exit code ${code}` : 'it could not be started';
    const reason = `the executor process, which spawned and watched the run, died (${how})`;
    for (const child of children) child.lose(reason);
    if (this.closed) return;
    this.restarts++;
    this.options.log?.error({ code, signal, runs: children.length }, `${reason}; ${children.length} run(s) ended as interrupted; a new executor is started`);
    const wait = Math.max(0, this.startedAt + restartIntervalMs - Date.now());
    this.restartTimer = setTimeout(() => {
      if (!this.closed) this.launch();
    }, wait).unref();
  }
}

/** The error node's spawn would give for `errno`. */
function spawnError(command: string, errno: number): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`spawn ${command} ${code}`), { errno: -errno, code, syscall: `spawn ${command}`, path: command });
}

/** A process the executor spawns for this daemon, seen as node's ChildProcess would be. */
class ExecutorChild extends EventEmitter implements SpawnedProcess {
  pid: number | undefined;
  spawning = true;
  lostReason: string | undefined;
  groupEmptyAtExit = false;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdio: readonly unknown[];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly open = new Set<'stdout' | 'stderr'>(['stdout', 'stderr']);
  private gateClosed = false;

  constructor(
    private readonly id: number,
    readonly command: string,
    private readonly send: (frame: Buffer) => void,
    /** Called once nothing more can come from the executor about this child. */
    private readonly forget: () => void,
  ) {
    super();
    const stream = (name: 'stdout' | 'stderr'): Readable =>
      new Readable({
        read: () => undefined,
        // A stream destroyed before its end (HeldProcess gives up on pipes held open by
        // what the run left behind): the executor stops reading them. Not one destroyed
        // after its end, as every stream is once read to its end: the other stream may
        // still have output coming (a script that closed its stdout and goes on writing to
        // its stderr), which that would have dropped.
        destroy: (error, callback) => {
          if (this.open.has(name)) this.closeOutput();
          callback(error);
        },
      });
    this.stdout = stream('stdout');
    this.stderr = stream('stderr');
    const gate: GatePipe = {
      end: (bytes?: string) => {
        if (this.gateClosed) return;
        this.gateClosed = true;
        // In order after the spawn: the executor writes it once the process exists.
        this.send(gateFrame(this.id, bytes ?? ''));
      },
      endAt: (bytes: string, atMs: number) => {
        if (this.gateClosed) return;
        this.gateClosed = true;
        this.send(gateAtFrame(this.id, bytes, atMs));
      },
      on: () => gate,
    };
    this.stdio = [null, this.stdout, this.stderr, gate];
  }

  spawned(pid: number): void {
    this.pid = pid;
    this.spawning = false;
    this.emit('spawn');
  }

  failToSpawn(error: Error): void {
    this.spawning = false;
    this.open.clear();
    this.stdout.push(null);
    this.stderr.push(null);
    this.forget();
    this.emit('error', error);
  }

  output(stream: 'stdout' | 'stderr', bytes: Buffer): void {
    if (this.open.has(stream)) this[stream].push(bytes);
  }

  endOfStream(stream: 'stdout' | 'stderr'): void {
    if (!this.open.delete(stream)) return;
    this[stream].push(null);
    this.closeIfDone();
  }

  exited(code: number | null, signal: NodeJS.Signals | null, groupLeft = true): void {
    this.exit = { code, signal };
    this.groupEmptyAtExit = !groupLeft;
    this.emit('exit', code, signal);
    this.closeIfDone();
  }

  /** The executor died: what it had not told of the run will never come. */
  lose(reason: string): void {
    if (this.spawning) {
      this.failToSpawn(new Error(`${reason} before the run started`));
      return;
    }
    // A process whose exit was told ended as it did; only the rest of its output is lost.
    if (this.exit === undefined) this.lostReason = reason;
    for (const stream of [...this.open]) this.endOfStream(stream);
    if (this.exit === undefined) this.exited(null, null);
  }

  /** Stops the output of a stream destroyed before its end: the executor closes both pipes. */
  private closeOutput(): void {
    if (this.open.size === 0) return;
    this.open.clear();
    this.send(closeOutputFrame(this.id));
    this.closeIfDone();
  }

  private closeIfDone(): void {
    if (this.exit === undefined || this.open.size > 0) return;
    this.forget();
    this.emit('close', this.exit.code, this.exit.signal);
  }
}
