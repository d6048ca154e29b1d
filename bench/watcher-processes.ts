/**
 * Starts sse-watchers.js processes and talks to them: one JSON line per message on their
 * stdout, commands on their stdin. Each is reaped when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { reapAtExit, release } from './reaper.js';
import type { Drained, FanoutReady, FanoutReport } from './sse-watchers.js';

const program = join(dirname(fileURLToPath(import.meta.url)), 'sse-watchers.js');

/** One sse-watchers.js process. */
export class WatcherProcess {
  private readonly child: ChildProcess;
  private readonly messages: Record<string, unknown>[] = [];
  private readonly waiting: (() => void)[] = [];
  private exited = false;
  private readonly stderr: string[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [program, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
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
      if (this.exited) throw new Error(`sse-watchers.js exited before "${name}": ${this.stderr.join('').trim().slice(0, 300)}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no "${name}" from sse-watchers.js within ${timeoutMs} ms`);
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

/** `count` streams of `taskId`, spread over processes of at most `perProcess` each. */
export class FanoutWatchers {
  readonly processes: WatcherProcess[] = [];

  constructor(url: string, taskId: string, count: number, perProcess: number) {
    for (let left = count; left > 0; left -= perProcess) {
      this.processes.push(new WatcherProcess(['fanout', url, taskId, String(Math.min(left, perProcess))]));
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
