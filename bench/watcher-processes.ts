/**
 * Starts the watcher processes and talks to them: sse-watchers.js, or the C client of the
 * fan-out (sse-fanout.c, which speaks as `sse-watchers.js fanout` does). One JSON line per
 * message on their stdout, commands on their stdin. Each is reaped when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { assertLoopback } from './api.js';
import { compileC } from './c-program.js';
import { reapAtExit, release } from './reaper.js';
import type { Drained, FanoutReady, FanoutReport } from './sse-watchers.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'sse-watchers.js');

/** The C fan-out client (sse-fanout.c), compiled on first use (c-program.ts; ccMissing() says when it cannot be). */
export function compileFanoutClient(): Promise<string> {
  return compileC('sse-fanout.c');
}

/** One watcher process: sse-watchers.js with `args`, or `program` with `args`. */
export class WatcherProcess {
  private readonly child: ChildProcess;
  private readonly name: string;
  private readonly messages: Record<string, unknown>[] = [];
  private readonly waiting: (() => void)[] = [];
  private exited = false;
  private readonly stderr: string[] = [];

  constructor(args: string[], program?: string) {
    this.name = program === undefined ? 'sse-watchers.js' : basename(program);
    const [file, argv] = program === undefined ? [process.execPath, [script, ...args]] : [program, args];
    this.child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    reapAtExit(this.child);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.messages.push(JSON.parse(line) as Record<string, unknown>);
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => this.stderr.push(text));
    this.child.once('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next message named `name` (messages are { name: value }); throws after `timeoutMs` or if the process exits first. */
  async next<T>(name: string, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = this.messages.findIndex((message) => name in message);
      if (index !== -1) return this.messages.splice(index, 1)[0]![name] as T;
      if (this.exited) throw new Error(`${this.name} exited before "${name}": ${this.stderr.join('').trim().slice(0, 300)}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no "${name}" from ${this.name} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  stop(): void {
    if (!this.exited) this.child.kill('SIGKILL');
    release(this.child);
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/**
 * Who reads the fan-out's streams: sse-watchers.js processes of at most `perProcess` streams
 * each, or one process of the C client (`program`, from compileFanoutClient) holding them all.
 */
export type FanoutClient = { kind: 'node'; perProcess: number } | { kind: 'c'; program: string };

/** `count` streams of `taskId`, read by `client`. */
export class FanoutWatchers {
  readonly processes: WatcherProcess[] = [];

  constructor(url: string, taskId: string, count: number, client: FanoutClient) {
    if (client.kind === 'c') {
      assertLoopback(url);
      const target = new URL(`/api/tasks/${encodeURIComponent(taskId)}/events`, url);
      this.processes.push(new WatcherProcess([target.hostname, target.port || '80', target.pathname, String(count)], client.program));
      return;
    }
    for (let left = count; left > 0; left -= client.perProcess) {
      this.processes.push(new WatcherProcess(['fanout', url, taskId, String(Math.min(left, client.perProcess))]));
    }
  }

  /** Waits until every process has opened (or failed to open) all its streams. */
  ready(timeoutMs: number): Promise<FanoutReady[]> {
    return Promise.all(this.processes.map((child) => child.next<FanoutReady>('ready', timeoutMs)));
  }

  /** What each process received; the processes exit after it. */
  report(timeoutMs: number): Promise<FanoutReport[]> {
    for (const child of this.processes) child.send('report');
    return Promise.all(this.processes.map((child) => child.next<FanoutReport>('report', timeoutMs)));
  }

  stop(): void {
    for (const child of this.processes) child.stop();
  }
}

/** One stream that reads and discards everything until the stream ends. */
export class DrainWatcher {
  private readonly child: WatcherProcess;

  constructor(url: string, taskId: string) {
    this.child = new WatcherProcess(['drain', url, taskId]);
  }

  /** Resolves once the stream's snapshot has come. */
  async ready(timeoutMs: number): Promise<void> {
    await this.child.next('ready', timeoutMs);
  }

  drained(timeoutMs: number): Promise<Drained> {
    return this.child.next<Drained>('drained', timeoutMs);
  }

  stop(): void {
    this.child.stop();
  }
}
