/** Recovery at start, on its own: a task that cannot be recorded does not stop the others. */
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import { noOutput, type Task } from '../../src/core/task.js';
import { recoverInterruptedRuns } from '../../src/engine/recovery.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLog, T0 } from './engine-harness.js';

function executingTask(id: string): Task {
  return {
    id,
    type: 'delay',
    time: '1s',
    schedule: { kind: 'once', at: T0 },
    timezone: 'UTC',
    script: 'true',
    lang: 'bash',
    policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
    execution: defaultExecution,
    createdAt: T0,
    state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false },
    lastStatusUpdated: T0,
    version: 2,
    lastRun: 1,
  };
}

describe('recoverInterruptedRuns', () => {
  it('records every interrupted run it can, and logs the task it cannot, without failing the start', async () => {
    const tasks = new Map(['broken', 'fine'].map((id) => [id, executingTask(id)]));
    const log = new RecordingLog();
    const recorded: string[] = [];
    await recoverInterruptedRuns({
      store: {
        listExecutingTasks: async () => [...tasks.values()],
        getTask: async (id) => tasks.get(id),
      },
      runner: { killOrphans: () => 0, recoverOutput: () => ({ stdout: noOutput, stderr: noOutput }), removeSpool: () => undefined },
      clock: new FakeClock(T0 + 5000),
      log,
      outputCap: 1024,
      apply: async (id, event) => {
        if (id === 'broken') throw new Error('database disk image is malformed');
        recorded.push(`${id} run ${event.run} ${event.result.outcome}`);
        tasks.set(id, { ...tasks.get(id)!, state: { status: 'Executed' } });
      },
    });
    expect(recorded).toEqual(['fine run 1 interrupted']);
    expect(log.errors).toMatchObject([{ details: { task: 'broken' }, message: 'could not record the interrupted run of this task; it stays Executing until the next start' }]);
  });
});
