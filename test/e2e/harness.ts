/**
 * End-to-end harness: real daemons (`scheduler daemon`) and the real CLI, both run from the
 * built program in dist/ as child processes, exactly as a user would run them.
 *
 * - `E2e` (one per test file, from `useE2e()`) owns every daemon and temp directory the file
 *   creates and cleans them up in afterAll, even when a test fails half-way.
 * - `DaemonProcess` starts a daemon on a free port, parses its URL from the line it prints,
 *   and can be stopped (SIGTERM), killed (SIGKILL) and restarted on the same data directory.
 * - `runCli` runs one CLI command and captures stdout, stderr and the exit status.
 * - `waitFor` polls a condition every 50ms until a deadline, and fails with a clear message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The built CLI: `npm test` builds it before vitest runs. SCHEDULER_E2E_CLI points the suite
 * at another build (e.g. a deliberately broken one, to check that the tests catch it).
 */
export const cliPath = process.env.SCHEDULER_E2E_CLI ?? join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** How a CLI command ended. */
export interface CliResult {
  /** Exit status; null if the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for one CLI run. */
export interface CliOptions {
  /** Extra environment; a variable set to undefined is removed. */
  env?: Record<string, string | undefined>;
  /** The command is killed and the test fails after this long (default 15s). */
  timeoutMs?: number;
  /**
   * Takes stdout chunk by chunk instead of collecting it (stdout() and the result's stdout
   * are then ''), for commands that print more than a test should hold in memory.
   */
  onStdout?: (chunk: Buffer) => void;
}

/** The environment children start from: ours, without anything that would point them elsewhere. */
function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // SCHEDULER_TOKEN, SCHEDULER_URL and every daemon option's variable (SCHEDULER_LISTEN, ...).
  for (const name of Object.keys(env)) if (name.startsWith('SCHEDULER_')) delete env[name];
  delete env.NODE_OPTIONS; // vitest's loader hooks have no business in the program under test
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function assertBuilt(): void {
  if (!existsSync(cliPath)) {
    throw new Error(`${cliPath} does not exist: run "npm run build" first (npm test does it)`);
  }
}

/** Runs `scheduler ARGS...` and resolves when it exits. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  assertBuilt();
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: baseEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    if (options.onStdout) child.stdout.on('data', options.onStdout);
    else child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `scheduler ${args.join(' ')} did not exit within ${timeoutMs}ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A CLI command left running (e.g. `get ID --watch`), to be awaited later. */
export interface BackgroundCli {
  readonly child: ChildProcess;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when it exits; fails the test if that takes longer than `timeoutMs`. */
  done(timeoutMs?: number): Promise<CliResult>;
}

/** Starts `scheduler ARGS...` without waiting for it. */
export function startCli(args: string[], options: CliOptions = {}): BackgroundCli {
  assertBuilt();
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: baseEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  if (options.onStdout) child.stdout!.on('data', options.onStdout);
  else child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<CliResult>((resolvePromise) => {
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    done: async (timeoutMs = 15_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`scheduler ${args.join(' ')} did not exit within ${timeoutMs}ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([closed, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined/false,
 * and returns that value. At the deadline it fails with `what`, plus what `describe`
 * says about the state at that moment (e.g. the task as it was).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => unknown } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      let state = '';
      if (options.describe) {
        try {
          state = `\nstate at the deadline: ${JSON.stringify(await options.describe(), null, 2)}`;
        } catch (error) {
          state = `\n(could not describe the state: ${String(error)})`;
        }
      }
      const cause = lastError ? `\nlast error: ${String((lastError as Error).stack ?? lastError)}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${state}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True while a process exists and is not a zombie waiting to be reaped. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false; // gone between the two looks
  }
}

/**
 * The live processes (not zombies) of process group `pgid`, found by scanning /proc: what a
 * run left behind, whatever became of its parent (an orphan is re-parented, but keeps its group).
 */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone between the listing and the read
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so parse after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}

/** The process group of a live process (from /proc/PID/stat). */
export function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** A run as the API returns it (the fields the tests read). */
export interface RunView {
  run: number;
  scheduledAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  error?: string | null;
  /** The kept output: all of it, or its head then its tail when bytes were dropped between. */
  stdout: string;
  stderr: string;
  /** Everything the script wrote, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutDroppedBytes: number;
  stderrDroppedBytes: number;
  /** Where the dropped bytes begin (the length of the kept head). */
  stdoutDroppedAt: number;
  stderrDroppedAt: number;
  outputCap: number;
}

/** A task as the API returns it (the fields the tests read). */
export interface TaskView {
  id: string;
  type: string;
  time: string;
  script: string;
  /** The IANA zone its cron expression and local times are read in. */
  timezone: string;
  /** A recurring task's first fire bound (an interval's first fire); null for one-time tasks and unbounded cron expressions. */
  start: string | null;
  /** A recurring task's last fire bound; null for none. */
  end: string | null;
  status: string;
  lastStatusUpdated: string;
  version: number;
  nextRunAt: string | null;
  createdAt: string;
  stopRequested: boolean;
  results: RunView[];
  warning?: string;
}

/** Options for a daemon. */
export interface DaemonOptions {
  /** Defaults to a fresh temp directory owned by the E2e context. */
  dataDir?: string;
  /** Defaults to 127.0.0.1:0 (a free port). */
  listen?: string;
  /** Extra environment of the daemon (e.g. SCHEDULER_TOKEN). */
  env?: Record<string, string | undefined>;
  /** Extra daemon arguments. */
  args?: string[];
  /** How long to wait for the "listening on" line (default 15s). */
  startTimeoutMs?: number;
  /**
   * `args` is the whole command line after the program, `daemon` included (so options may
   * come before it), without the harness's own flags (--listen, --data-dir, ...): for tests
   * of options given another way (environment, config file). `dataDir` is then only recorded.
   */
  bare?: boolean;
}

/** A running `scheduler daemon`. */
export class DaemonProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The address it serves, e.g. http://127.0.0.1:41234 (set once started). */
  url = '';

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly options: DaemonOptions,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolvePromise) => {
      child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolvePromise({ code, signal });
      });
    });
  }

  /** Starts a daemon and resolves once it prints the address it listens on. */
  static async start(dataDir: string, options: DaemonOptions = {}): Promise<DaemonProcess> {
    assertBuilt();
    const args = options.bare ? [cliPath, ...(options.args ?? [])] : [
      cliPath,
      'daemon',
      '--listen',
      options.listen ?? '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--kill-grace',
      '1s',
      '--log-level',
      'warn',
      // Test files run many tasks at once; the concurrency cap has its own tests.
      ...(options.args?.includes('--max-runs') ? [] : ['--max-runs', '64']),
      ...(options.args ?? []),
    ];
    const child = spawn(process.execPath, args, {
      env: baseEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const daemon = new DaemonProcess(child, dataDir, options);
    const timeoutMs = options.startTimeoutMs ?? 15_000;
    try {
      const url = await waitFor(
        'the daemon to print "scheduler X listening on URL"',
        () => {
          if (daemon.exitStatus) {
            throw new Error(
              `the daemon exited (${JSON.stringify(daemon.exitStatus)}) before listening\nstdout: ${daemon.out}\nstderr: ${daemon.err}`,
            );
          }
          return /^scheduler \S+ listening on (http:\/\/\S+)$/m.exec(daemon.out)?.[1];
        },
        { timeoutMs, intervalMs: 20, describe: () => ({ stdout: daemon.out, stderr: daemon.err }) },
      );
      daemon.url = url;
    } catch (error) {
      await daemon.kill();
      throw error;
    }
    return daemon;
  }

  /** What it printed on stdout / stderr so far. */
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }

  /** Waits until the daemon has printed a line matching `pattern` on stdout. */
  waitForStdout(pattern: RegExp, timeoutMs = 5_000): Promise<true> {
    return waitFor(`the daemon to print ${String(pattern)}`, () => pattern.test(this.out) || undefined, {
      timeoutMs,
      describe: () => ({ stdout: this.out, stderr: this.err }),
    });
  }

  /** True until it has exited. */
  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The port it listens on. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Runs `scheduler --server URL ARGS...`. */
  cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return runCli(['--server', this.url, ...args], options);
  }

  /** Starts `scheduler --server URL ARGS...` in the background. */
  startCli(args: string[], options: CliOptions = {}): BackgroundCli {
    return startCli(['--server', this.url, ...args], options);
  }

  /**
   * Reads a task straight from the HTTP API, for polling in waitFor (a CLI process per poll
   * would load a 2-core machine for nothing). Undefined when there is no such task.
   */
  async task(id: string): Promise<TaskView | undefined> {
    const token = this.options.env?.SCHEDULER_TOKEN;
    const response = await fetch(`${this.url}/api/tasks/${encodeURIComponent(id)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`GET ${id}: ${response.status} ${await response.text()}`);
    return (await response.json()) as TaskView;
  }

  /** Polls until the task satisfies `predicate`, and returns it. */
  waitForTask(
    id: string,
    what: string,
    predicate: (task: TaskView) => boolean,
    timeoutMs = 10_000,
  ): Promise<TaskView> {
    let last: TaskView | undefined;
    return waitFor(
      `task ${id}: ${what}`,
      async () => {
        last = await this.task(id);
        return last !== undefined && predicate(last) ? last : undefined;
      },
      { timeoutMs, describe: () => last ?? 'no such task' },
    );
  }

  /** Polls until the task has `status`. */
  waitForStatus(id: string, status: string, timeoutMs = 10_000): Promise<TaskView> {
    return this.waitForTask(id, `status ${status}`, (task) => task.status === status, timeoutMs);
  }

  /**
   * Resolves once the daemon's scheduler has passed the instant `atMs`: a sentinel delay task
   * due just after it is submitted and waited for. Tasks are fired in due order, so anything
   * due before `atMs` has been fired by then. This is how the tests show that something did
   * NOT happen (a stopped task never ran) without sleeping blindly.
   */
  async waitUntilSchedulerPassed(atMs: number, timeoutMs = 10_000): Promise<void> {
    const id = `sentinel-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    const delay = Math.max(1, Math.ceil(atMs + 20 - Date.now()));
    // Straight through the API: this is the harness's own bookkeeping, not a CLI test.
    await this.api('POST', '/api/tasks', { id, type: 'delay', time: `${delay}ms`, script: 'true' });
    await this.waitForStatus(id, 'Executed', timeoutMs + delay);
    await this.api('DELETE', `/api/tasks/${id}`);
  }

  /** One request to the HTTP API; fails unless it answers 2xx. */
  async api(method: string, path: string, body?: unknown): Promise<unknown> {
    const token = this.options.env?.SCHEDULER_TOKEN;
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text.length > 0 ? JSON.parse(text) : undefined;
  }

  /** SIGTERM, then waits for it to exit (SIGKILL if it takes longer than `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (result === 'late') {
      await this.kill();
      throw new Error(`the daemon did not exit within ${timeoutMs}ms of SIGTERM\nstdout: ${this.out}\nstderr: ${this.err}`);
    }
    return result;
  }

  /** SIGKILL (a crash), then waits until it has exited and been reaped. */
  async kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** A request that passed through a RecordingProxy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query string. */
  path: string;
  /** The daemon's status code, once its answer's head has been passed on. */
  status?: number;
}

/**
 * An HTTP proxy in front of a daemon that records every request passing through it, so
 * that a test can tell what a CLI process has asked for and been answered (e.g. that a
 * `logs --follow` is connected to the event stream, not merely started), instead of guessing
 * with a delay. Answers are streamed through as they come.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  url = '';
  private readonly server = createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    this.requests.push(record);
    const target = new URL(this.target);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        record.status = answer.statusCode;
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    await new Promise<void>((resolvePromise) => this.server.listen(0, '127.0.0.1', resolvePromise));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The requests for `path` (without its query string) that the daemon has answered. */
  answered(path: string): ProxiedRequest[] {
    return this.requests.filter((r) => r.path.split('?')[0] === path && r.status !== undefined);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolvePromise) => this.server.close(() => resolvePromise()));
  }
}

/** One test file's daemons and temp directories, cleaned up after the file. */
export class E2e {
  private readonly daemons: DaemonProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly proxies: RecordingProxy[] = [];

  /** A RecordingProxy in front of `daemon`, closed after the file. */
  async proxy(daemon: DaemonProcess): Promise<RecordingProxy> {
    const proxy = await new RecordingProxy(daemon.url).start();
    this.proxies.push(proxy);
    return proxy;
  }

  /** A fresh temp directory, removed after the file. */
  tempDir(prefix = 'scheduler-e2e-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Starts a daemon (on a fresh data directory unless one is given). */
  async startDaemon(options: DaemonOptions = {}): Promise<DaemonProcess> {
    const dataDir = options.dataDir ?? join(this.tempDir(), 'data');
    const daemon = await DaemonProcess.start(dataDir, options);
    this.daemons.push(daemon);
    return daemon;
  }

  /** Starts a new daemon on the data directory of `daemon`, which must have exited. */
  async restart(daemon: DaemonProcess, options: DaemonOptions = {}): Promise<DaemonProcess> {
    if (daemon.running) throw new Error('restart: the previous daemon is still running; stop() or kill() it first');
    return this.startDaemon({ ...daemon.options, ...options, dataDir: daemon.dataDir });
  }

  /** Stops every daemon still running and removes the temp directories. */
  async cleanup(): Promise<void> {
    await Promise.all(this.proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(
      this.daemons.map((daemon) => daemon.stop(5_000).catch(() => daemon.kill())),
    );
    this.daemons.length = 0;
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** The E2e context of the calling test file, cleaned up in afterAll. */
export function useE2e(): E2e {
  const e2e = new E2e();
  afterAll(() => e2e.cleanup());
  return e2e;
}

/** Returns `result` if the command exited 0; otherwise fails with its output. */
export function ok(result: CliResult, what: string): CliResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** Parses the JSON a `--json` command printed, with the output in the failure message. */
export function parseJson<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`expected JSON on stdout, got:\n${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** Milliseconds since the epoch of an ISO time, failing on null. */
export function ms(iso: string | null | undefined): number {
  if (iso == null) throw new Error('expected a time, got null');
  return Date.parse(iso);
}

/**
 * A gate a script waits at until the test opens it, so that "while a run is executing" is a
 * state the test holds for as long as it needs, however slow the machine. A script that is
 * never released goes on after `maxWaitMs`, so nothing is left running for ever.
 */
export interface Gate {
  /** The file whose existence opens the gate. */
  readonly path: string;
  /** A bash snippet that waits until the gate is open. */
  readonly wait: string;
  /** Opens the gate. */
  open(): void;
}

/** A closed gate in `dir`. */
export function gate(dir: string, name: string, maxWaitMs = 20_000): Gate {
  const path = join(dir, `gate-${name}`);
  const rounds = Math.ceil(maxWaitMs / 50);
  return {
    path,
    wait: `for _ in $(seq ${rounds}); do [ -e '${path}' ] && break; sleep 0.05; done`,
    open: () => writeFileSync(path, 'open\n'),
  };
}

/**
 * Finds each of `patterns` in `text`, each after the previous one; throws naming the first
 * one missing, with the whole text. Returns the index after the last match.
 */
export function expectInOrder(text: string, patterns: Array<string | RegExp>): number {
  let from = 0;
  for (const [index, pattern] of patterns.entries()) {
    const rest = text.slice(from);
    let at = -1;
    let length = 0;
    if (typeof pattern === 'string') {
      at = rest.indexOf(pattern);
      length = pattern.length;
    } else {
      const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
      if (match) {
        at = match.index;
        length = match[0].length;
      }
    }
    if (at < 0) {
      throw new Error(
        `expected ${String(pattern)} (item ${index + 1} of ${patterns.length}) after offset ${from} in:\n${text}`,
      );
    }
    from += at + length;
  }
  return from;
}
