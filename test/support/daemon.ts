/**
 * A real daemon for tests: `scheduler daemon` from dist/ as a child process, on a free port
 * (127.0.0.1:0, the address parsed from the line it prints) and the data directory it is
 * given. It can be stopped (SIGTERM), killed (SIGKILL) and asked through the CLI or the API.
 * E2e (e2e-context.ts) gives each test file fresh data directories and cleans up.
 */
import type { ChildProcess } from 'node:child_process';
import type { TaskView } from './api-views.js';
import { ok, parseJson, runCli, spawnCli, startCli, type BackgroundCli, type CliOptions, type CliResult } from './cli.js';
import { postgresStoreUrl, schemaForDataDir, testStoreKind } from './test-store.js';
import { waitFor } from './wait.js';

/** How a daemon process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
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
  /**
   * Where the daemon keeps its tasks. By default SCHEDULER_TEST_STORE picks (test-store.ts):
   * SQLite in the data directory, or a PostgreSQL schema of the data directory's own.
   * `sqlite` and `postgres` ask for one of them whatever the variable says (a test of
   * something only one store has: say why beside it); a `postgres://...?schema=NAME` URL is
   * given to --store as it is, so that several daemons can share one store.
   */
  store?: string;
}

/**
 * The --store URL of a daemon on `dataDir` (undefined: SQLite in the data directory).
 * Bare daemons and those given --store in `args` get none from the harness.
 */
export function storeUrlFor(dataDir: string, options: DaemonOptions): string | undefined {
  if (options.bare || options.args?.some((arg) => arg === '--store' || arg.startsWith('--store='))) return undefined;
  const store = options.store ?? testStoreKind();
  if (store === 'sqlite') return undefined;
  if (store === 'postgres') return postgresStoreUrl(schemaForDataDir(dataDir));
  if (/^postgres(ql)?:\/\//.test(store)) return store;
  throw new Error(`DaemonOptions.store: "${store}" is none of sqlite, postgres or a postgres:// URL`);
}

/** A running `scheduler daemon`. */
export class DaemonProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<ExitStatus>;
  private ended: ExitStatus | undefined;
  /** The address it serves, e.g. http://127.0.0.1:41234 (set once started). */
  url = '';

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly options: DaemonOptions,
    /** The --store URL the harness gave it; undefined when it keeps its tasks in SQLite (or was bare). */
    readonly storeUrl: string | undefined,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolvePromise) => {
      child.on('exit', (code, signal) => {
        this.ended = { code, signal };
        resolvePromise({ code, signal });
      });
    });
  }

  /**
   * Spawns a daemon without waiting for it (see listening()): for tests of daemons that are
   * refused, or of several started at once.
   */
  static launch(dataDir: string, options: DaemonOptions = {}): DaemonProcess {
    const storeUrl = storeUrlFor(dataDir, options);
    const args = options.bare ? options.args ?? [] : [
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
      ...(storeUrl === undefined ? [] : ['--store', storeUrl]),
      ...(options.args ?? []),
    ];
    return new DaemonProcess(spawnCli(args, options.env), dataDir, options, storeUrl);
  }

  /** Starts a daemon and resolves once it prints the address it listens on. */
  static async start(dataDir: string, options: DaemonOptions = {}): Promise<DaemonProcess> {
    const daemon = DaemonProcess.launch(dataDir, options);
    try {
      await daemon.listening(options.startTimeoutMs);
    } catch (error) {
      await daemon.kill();
      throw error;
    }
    return daemon;
  }

  /** The address from its "listening on" line, once it has printed it. */
  get announcedUrl(): string | undefined {
    return /^scheduler \S+ listening on (https?:\/\/\S+)$/m.exec(this.out)?.[1];
  }

  /** Waits until it prints the address it listens on, and sets `url`; fails if it exits first. */
  async listening(timeoutMs = 15_000): Promise<string> {
    // A daemon that exits without listening (a refused option) fails the wait at once, with
    // what it printed, rather than at the deadline.
    const exitedFirst = this.exited.then((status) => {
      if (this.announcedUrl) return this.announcedUrl;
      throw new Error(`the daemon exited (${JSON.stringify(status)}) before listening\nstdout: ${this.out}\nstderr: ${this.err}`);
    });
    exitedFirst.catch(() => undefined); // settled after the race when the daemon listened first
    this.url = await Promise.race([
      waitFor('the daemon to print "scheduler X listening on URL"', () => this.announcedUrl, {
        timeoutMs,
        intervalMs: 20,
        describe: () => ({ stdout: this.out, stderr: this.err }),
      }),
      exitedFirst,
    ]);
    return this.url;
  }

  /** How it ended, once it has (undefined while it runs). */
  get exitStatus(): ExitStatus | undefined {
    return this.ended;
  }

  /** Resolves when it has exited. */
  get exit(): Promise<ExitStatus> {
    return this.exited;
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
    return this.ended === undefined;
  }

  /** The port it listens on. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Runs `scheduler --server URL ARGS...`. */
  cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return runCli(['--server', this.url, ...args], options);
  }

  /** `scheduler submit ID FLAGS... --json`: the task it printed; fails unless it exited 0. */
  async submit<T extends TaskView = TaskView>(id: string, flags: string[], options: CliOptions = {}): Promise<T> {
    return parseJson<T>(ok(await this.cli(['submit', id, ...flags, '--json'], options), `submit ${id}`));
  }

  /** Starts `scheduler --server URL ARGS...` in the background. */
  startCli(args: string[], options: CliOptions = {}): BackgroundCli {
    return startCli(['--server', this.url, ...args], options);
  }

  /**
   * Reads a task straight from the HTTP API, for polling in waitFor (a CLI process per poll
   * would load a 2-core machine for nothing). Undefined when there is no such task.
   */
  async task<T extends TaskView = TaskView>(id: string): Promise<T | undefined> {
    const token = this.options.env?.SCHEDULER_TOKEN;
    const response = await fetch(`${this.url}/api/tasks/${encodeURIComponent(id)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`GET ${id}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** The task from the HTTP API; fails when there is no such task. */
  async existingTask<T extends TaskView = TaskView>(id: string): Promise<T> {
    const task = await this.task<T>(id);
    if (!task) throw new Error(`no task ${id}`);
    return task;
  }

  /** Polls until the task satisfies `predicate`, and returns it. */
  waitForTask<T extends TaskView = TaskView>(
    id: string,
    what: string,
    predicate: (task: T) => boolean,
    timeoutMs = 10_000,
  ): Promise<T> {
    let last: T | undefined;
    return waitFor(
      `task ${id}: ${what}`,
      async () => {
        last = await this.task<T>(id);
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
    const answer = await this.request(method, path, body);
    if (answer.status < 200 || answer.status > 299) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** One request to the HTTP API with the daemon's token (if it has one): its status and JSON body, whatever the status. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
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
    return { status: response.status, body: (text.length > 0 ? JSON.parse(text) : undefined) as T };
  }

  /** SIGTERM, then waits for it to exit (SIGKILL if it takes longer than `timeoutMs`). */
  async stop(timeoutMs = 10_000): Promise<ExitStatus> {
    if (this.ended) return this.ended;
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
  async kill(): Promise<ExitStatus> {
    if (this.ended) return this.ended;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}
