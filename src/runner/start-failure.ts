/**
 * Why a run could not start, in plain words. A start fails when the system refuses a
 * resource (no file descriptor left for the pipes or the spool, no process slot, no memory),
 * when something the run needs is missing (the working directory, the shell), or when the
 * task asks for what this daemon cannot give (a language it does not know). Each becomes a
 * run that failed without starting, never an exception that ends the daemon: the message
 * says what happened, and its errno code says it to those who search for it.
 */
import { existsSync } from 'node:fs';
import { endedBeforeStart, neverStartedResult, type RunningProcess } from './run-launcher.js';

/** The plain words for the errno codes a start fails with most often. */
const plainWords: Readonly<Record<string, string>> = {
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EAGAIN: 'resource temporarily unavailable (the process limit may be reached)',
  ENOMEM: 'out of memory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  E2BIG: 'the script or its environment is too long',
};

/**
 * Says why a run could not start: `could not start: too many open files (EMFILE)`. `cwd` is
 * the run's working directory: Node reports a missing one as "spawn /bin/bash ENOENT".
 */
export function describeStartFailure(error: unknown, cwd?: string): string {
  return `could not start: ${startFailureReason(error, cwd)}`;
}

function startFailureReason(error: unknown, cwd: string | undefined): string {
  if (!(error instanceof Error)) return String(error);
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (code === 'ENOENT') {
    if (cwd !== undefined && !existsSync(cwd)) return `the working directory ${cwd} does not exist`;
    if (syscall?.startsWith('spawn')) return `the shell ${path ?? '/bin/bash'} was not found (ENOENT)`;
    return `no such file or directory${path ? `: ${path}` : ''} (ENOENT)`;
  }
  const words = code === undefined ? undefined : plainWords[code];
  if (words === undefined) return error.message;
  return code === 'EACCES' && path ? `${words} on ${path} (${code})` : `${words} (${code})`;
}

/** A run that could not start: failed, saying why. */
export function notStarted(error: string, finishedAt: number, outputCap: number): RunningProcess {
  return endedBeforeStart(neverStartedResult('failed', error, finishedAt, outputCap));
}
