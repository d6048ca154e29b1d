/**
 * Which spawn the runner's tests use. The main project uses node's (the daemon's own, when
 * the executor is not built); the `executor` project (vitest.config.ts) runs the same files
 * again with SCHEDULER_TEST_SPAWN=executor, every run spawned through a real executor process,
 * as the daemon does. The executor is started on first use and closed when the file ends.
 */
import { afterAll } from 'vitest';
import { Executor } from '../../src/runner/executor.js';
import type { SpawnFunction } from '../../src/runner/held-process.js';
import { until } from './wait.js';

export const throughExecutor = process.env.SCHEDULER_TEST_SPAWN === 'executor';

let executor: Executor | undefined;

/** The spawn option of a ProcessRunner under test: none (node's), or the executor's. */
export function testSpawn(): { spawn?: SpawnFunction } {
  if (!throughExecutor) return {};
  if (!executor) {
    executor = new Executor();
    const started = executor;
    afterAll(() => started.close());
  }
  return { spawn: executor.spawn };
}

/**
 * The pid of a started run, once known: at once from node's spawn, a moment later from the
 * executor's (its answer comes through the event loop).
 */
export async function pidOf(running: { readonly pid: number | undefined }): Promise<number> {
  await until(() => running.pid !== undefined, 'the run to have a pid');
  return running.pid!;
}
