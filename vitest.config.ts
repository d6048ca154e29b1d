import { defineConfig } from 'vitest/config';

/**
 * The fault-injection suite (test/faults) fills a tmpfs, lowers rlimits with prlimit and
 * kills daemons; mounting needs root. CI runs as root, so it runs there; elsewhere it is left
 * out, and said so, rather than each test skipping itself.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.log('test/faults: not run: the fault-injection suite needs root (it mounts a tmpfs); CI runs it as root');
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: isRoot ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/faults/**'],
    // End-to-end tests start real daemons and processes; give them room on a 2-core machine.
    testTimeout: 30_000,
    // Most of the suite's time is spent waiting on real processes and timers, not on the CPU:
    // four files at once more than halve it even on two cores. Tests synchronise on
    // conditions, never on timing, so the extra load only slows them.
    maxWorkers: 4,
    hookTimeout: 30_000,
  },
});
