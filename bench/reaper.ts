/**
 * Child processes the benchmark started, ended when it exits however it exits (finished,
 * overall time limit, SIGINT), so that no daemon or helper outlives it.
 */
import type { ChildProcess } from 'node:child_process';

const children = new Map<ChildProcess, () => void>();

process.on('exit', () => {
  for (const [child, cleanup] of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup();
  }
});

/** Kills `child` at exit unless released first; `cleanup` runs after the kill (synchronously). */
export function reapAtExit(child: ChildProcess, cleanup: () => void = () => {}): void {
  children.set(child, cleanup);
}

/** The child was stopped and cleaned up normally. */
export function release(child: ChildProcess): void {
  children.delete(child);
}
