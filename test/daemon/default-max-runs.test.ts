/** The default of --max-runs, read from the host. */
import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { defaultMaxRuns } from '../../src/daemon/default-max-runs.js';

it('defaults the maximum of runs at once to twice the number of CPUs, at least 4', () => {
  expect(defaultMaxRuns()).toBe(Math.max(4, 2 * availableParallelism()));
  expect(defaultMaxRuns()).toBeGreaterThanOrEqual(4);
});
