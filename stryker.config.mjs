// @ts-check
/**
 * Mutation testing of the pure core (`npm run mutate`; not part of CI): Stryker mutates
 * src/core/ and runs the core tests (test/core) against each mutant. The score and what is
 * known about the mutants that survive are in docs/mutation-testing.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  mutate: ['src/core/**/*.ts'],
  testRunner: 'vitest',
  // Only the core tests: they exercise src/core/ directly and run in seconds, so a run of the
  // whole set of mutants takes minutes; the engine and e2e tests would add hours for little.
  vitest: { configFile: 'vitest.core.config.ts', related: false },
  // Each mutant runs only the tests that reach its code.
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // The sandbox needs only what the core tests load.
  ignorePatterns: ['dist', 'bench', 'coverage', 'reports', 'test/e2e', 'test/faults', 'test/store', 'test/server', 'test/runner', 'test/cli'],
  // A run reuses the results of the last one for mutants whose code and tests did not change
  // (`npm run mutate -- --force` runs them all again).
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  thresholds: { high: 90, low: 80, break: 80 },
  // The first run of the tests, which maps each test to the mutants it reaches, is slow on a
  // loaded machine: give it room.
  dryRunTimeoutMinutes: 20,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
