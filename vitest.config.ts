import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests start real daemons and processes; give them room on a 2-core machine.
    testTimeout: 30_000,
    // Most of the suite's time is spent waiting on real processes and timers, not on the CPU:
    // four files at once more than halve it even on two cores. Tests synchronise on
    // conditions, never on timing, so the extra load only slows them.
    maxWorkers: 4,
    hookTimeout: 30_000,
  },
});
