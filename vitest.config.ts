import { defineConfig } from 'vitest/config';

/**
 * Tests of time-zone behaviour (cron in a zone, `at` times in local time, daylight saving)
 * run twice: in the main project, in the host's zone, and again in the other-zone project
 * with TZ set to a zone far from it. Core takes its zone as a parameter, so both runs must
 * get the same answers; one that read the host's zone would fail in one of them.
 */
const zoneTests = [
  'test/core/time-passed-in.test.ts',
  'test/core/zoned-time.test.ts',
  'test/core/schedule.test.ts',
  'test/core/submission.test.ts',
  'test/server/schedules.test.ts',
];
/** Tests of the runner run twice too: with node's spawn, and through the executor process. */
const executorTests = ['test/runner/process-runner.test.ts', 'test/runner/interpreters.test.ts'];
const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
// +12:45 (+13:45 in its summer, the northern winter): no whole-hour offset of UTC, and a DST
// calendar opposite to the zones the tests name.
const otherZone = hostZone === 'Pacific/Chatham' ? 'America/St_Johns' : 'Pacific/Chatham';

/**
 * The main suite. The fault-injection suite (test/faults) has its own configuration
 * (vitest.faults.config.ts): it fills a tmpfs, starts ten daemons at once and starves one of
 * descriptors, and so runs after this one, a file at a time, rather than beside it.
 */
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', 'test/faults/**'] } },
      { extends: true, test: { name: 'other-zone', include: zoneTests, env: { TZ: otherZone } } },
      // The runner's tests again, every run spawned through the executor (test/support/test-spawn.ts).
      { extends: true, test: { name: 'executor', include: executorTests, env: { SCHEDULER_TEST_SPAWN: 'executor' } } },
    ],
    // End-to-end tests start real daemons and processes; give them room on a 2-core machine.
    // These are deadlines, not waits: a test takes what its conditions take. A busy or slow
    // host (one that started processes four times slower than the others, with four files
    // at once on two cores) took 12-17 s for tests that take 5 s alone, and over 30 s for some.
    testTimeout: 90_000,
    // Most of the suite's time is spent waiting on real processes and timers, not on the CPU:
    // four files at once more than halve it even on two cores. Tests synchronise on
    // conditions, never on timing, so the extra load only slows them.
    maxWorkers: 4,
    hookTimeout: 90_000,
    // Coverage is collected when asked for (`npm test` does, with --coverage): the summary of
    // the whole main suite is printed, and a run fails when the pure core or the engine has
    // less than 95% of its lines covered. A run of a few files (`npx vitest run test/core`)
    // collects none, so it is not held to thresholds meant for the whole suite. Code run in
    // the daemons and CLIs that end-to-end tests spawn is not counted (v8 coverage of child
    // processes is not collected), which is why the thresholds name the directories that
    // in-process tests reach.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      thresholds: {
        'src/core/**': { lines: 95 },
        'src/engine/**': { lines: 95 },
      },
    },
    // CI asks for a JSON report beside the usual one (see .ci/run).
    reporters: process.env.SCHEDULER_TEST_REPORT_DIR ? ['default', ['json', { outputFile: `${process.env.SCHEDULER_TEST_REPORT_DIR}/main.json` }]] : ['default'],
  },
});
