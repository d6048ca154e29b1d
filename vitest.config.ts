import { defineConfig } from 'vitest/config';

/**
 * The main suite. The fault-injection suite (test/faults) has its own configuration
 * (vitest.faults.config.ts): it fills a tmpfs, starts ten daemons at once and starves one of
 * descriptors, and so runs after this one, a file at a time, rather than beside it.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/faults/**'],
    // End-to-end tests start real daemons and processes; give them room on a 2-core machine.
    testTimeout: 30_000,
    // Most of the suite's time is spent waiting on real processes and timers, not on the CPU:
    // four files at once more than halve it even on two cores. Tests synchronise on
    // conditions, never on timing, so the extra load only slows them.
    maxWorkers: 4,
    hookTimeout: 30_000,
    // CI asks for a JSON report beside the usual one (see .ci/run).
    reporters: process.env.SCHEDULER_TEST_REPORT_DIR ? ['default', ['json', { outputFile: `${process.env.SCHEDULER_TEST_REPORT_DIR}/main.json` }]] : ['default'],
  },
});
