/**
 * Tests that need root (other users, chown, sandboxes as nobody, tmpfs, prlimit): CI runs as
 * root, so they run there and say so in their names. Elsewhere they are left out, and a line
 * says which and why, as the fault suite does (vitest.faults.config.ts): never a silent skip.
 */
import { describe, it } from 'vitest';

/** Whether this process runs as root (CI does). */
export const isRoot = process.getuid?.() === 0;

/** What a test name gets: "(as root)" when it ran as root, else what was left out and why. */
export function rootNote(leftOut: string): string {
  return isRoot ? ' (as root)' : ` (not root: ${leftOut} only as root)`;
}

function notRun(kind: string, name: string): void {
  console.log(`${kind} "${name}": not run: it needs root; CI runs it as root`);
}

/** A test that needs root: named "... (as root)" as root; elsewhere not registered, a line saying why. */
export function itAsRoot(name: string, test: () => Promise<void> | void, timeoutMs?: number): void {
  if (isRoot) it(`${name} (as root)`, test, timeoutMs);
  else notRun('test', name);
}

/** A group of tests that need root, as itAsRoot. */
export function describeAsRoot(name: string, tests: () => void): void {
  if (isRoot) describe(`${name} (as root)`, tests);
  else notRun('tests', name);
}
