import { defineConfig } from 'vitest/config';

/**
 * The fault-injection suite: a full disk (it mounts a tmpfs), too few descriptors, kill -9
 * with runs waiting, a damaged database, ten daemons started at once. Mounting needs root;
 * CI runs as root, so it runs there. Elsewhere it is left out, and said so, rather than each
 * test skipping itself. One file at a time: each is a fault for the whole machine.
 */
const isRoot = process.getuid?.() === 0;
// Said either way, so that the output shows whether the suite ran (as test/support/root.ts does).
if (isRoot) console.log('test/faults: running as root');
else console.log('test/faults: not run: the fault-injection suite needs root (it mounts a tmpfs); CI runs it as root');

export default defineConfig({
  test: {
    include: isRoot ? ['test/faults/**/*.test.ts'] : [],
    passWithNoTests: true,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    reporters: process.env.SCHEDULER_TEST_REPORT_DIR ? ['default', ['json', { outputFile: `${process.env.SCHEDULER_TEST_REPORT_DIR}/faults.json` }]] : ['default'],
  },
});
