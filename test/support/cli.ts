/**
 * The built CLI as a user runs it: `scheduler ARGS...` as a child process from dist/, with
 * stdout, stderr and the exit status captured. `npm test` builds it before vitest runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The built CLI. SCHEDULER_E2E_CLI points the suite at another build (e.g. a deliberately
 * broken one, to check that the tests catch it).
 */
export const cliPath = process.env.SCHEDULER_E2E_CLI ?? join(repoRoot, 'dist', 'src', 'cli', 'scheduler.js');

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

/**
 * The environment children start from: ours, without anything that would point them
 * elsewhere, with `extra` over it (a variable set to undefined is removed).
 */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
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

/** Fails with what to do when the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(cliPath)) {
    throw new Error(`${cliPath} does not exist: run "npm run build" first (npm test does it)`);
  }
}

/** Spawns the built CLI with `args` (node's own options may come first) and the child environment. */
export function spawnCli(args: string[], env?: Record<string, string | undefined>): ChildProcess {
  assertBuilt();
  return spawn(process.execPath, [cliPath, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
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
  const child = spawnCli(args, options.env);
  let stdout = '';
  let stderr = '';
  if (options.onStdout) child.stdout!.on('data', options.onStdout);
  else child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<CliResult>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
  closed.catch(() => {}); // reported by done(), whenever the test asks
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

/** Runs `scheduler ARGS...` and resolves when it exits; fails if it runs longer than `options.timeoutMs` (15 s). */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done(options.timeoutMs);
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
