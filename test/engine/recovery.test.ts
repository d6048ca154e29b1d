/** Recovery at start, on its own: a task that cannot be recorded does not stop the others. */
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import { noOutput, type Run, type Task } from '../../src/core/task.js';
import type { TaskEvent } from '../../src/core/transition.js';
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
        getRun: async () => undefined,
      },
      runner: { killOrphans: async () => 0, recoverOutput: async () => ({ stdout: noOutput, stderr: noOutput }), removeSpool: () => undefined },
      clock: new FakeClock(T0 + 5000),
      log,
      outputCap: 1024,
      apply: async (id, event) => {
        if (id === 'broken') throw new Error('database disk image is malformed');
        recorded.push(`${id} run ${event.run} ${event.result.outcome}`);
        tasks.set(id, { ...tasks.get(id)!, state: { status: 'Executed' } });
      },
      startWaiting: () => expect.unreachable('no run was waiting'),
    });
    expect(recorded).toEqual(['fine run 1 interrupted']);
    expect(log.errors).toMatchObject([{ details: { task: 'broken' }, message: 'could not record the interrupted run of this task; it stays Executing until the next start' }]);
  });

  /** A run record in progress: started at `startedAt`, or waiting for a slot when null. */
  function runRecord(run: number, startedAt: number | null): Run {
    return {
      run,
      scheduledAt: T0 + run,
      attempt: 1,
      startedAt,
      finishedAt: null,
      outcome: 'running',
      exitCode: null,
      signal: null,
      error: null,
      stdout: noOutput,
      stderr: noOutput,
      outputCap: 1024,
      ...(startedAt === null ? { waiting: true as const } : {}),
    };
  }

  /** Recovery over `tasks` with their run records; what it recorded and what it started. */
  async function recover(tasks: Task[], records: Run[][], lastAliveAt?: number) {
    const byId = new Map(tasks.map((task, index) => [task.id, { task, runs: records[index]! }]));
    const recorded: Array<{ id: string; event: Extract<TaskEvent, { kind: 'runFinished' }> }> = [];
    const started: string[] = [];
    const orphanKills: number[] = [];
    await recoverInterruptedRuns({
      store: {
        listExecutingTasks: async () => tasks,
        getTask: async (id) => byId.get(id)?.task,
        getRun: async (id, run) => byId.get(id)?.runs.find((record) => record.run === run),
      },
      runner: {
        killOrphans: async () => orphanKills.push(started.length),
        recoverOutput: async () => ({ stdout: noOutput, stderr: noOutput, ...(lastAliveAt === undefined ? {} : { lastAliveAt }) }),
        removeSpool: () => undefined,
      },
      clock: new FakeClock(T0 + 60_000),
      log: new RecordingLog(),
      outputCap: 1024,
      apply: async (id, event) => {
        recorded.push({ id, event });
        const entry = byId.get(id)!;
        const state = entry.task.state as Extract<Task['state'], { status: 'Executing' }>;
        // As the transition does: the end of the run promotes the next one beside it, if any.
        const [next, ...rest] = (state.parallel ?? []).filter((other) => other.run !== event.run);
        const after = event.run !== state.run ? { ...state, parallel: [next!, ...rest].filter(Boolean) } : next ? { ...state, run: next.run, parallel: rest } : { status: 'Executed' as const };
        entry.task = { ...entry.task, state: after };
      },
      startWaiting: (task, run) => started.push(`${task.id} run ${run}`),
    });
    return { recorded, started, orphanKills };
  }

  it('starts again a run recorded as waiting for a slot, and records none of them interrupted', async () => {
    const { recorded, started, orphanKills } = await recover([executingTask('w')], [[runRecord(1, null)]]);
    expect(recorded).toEqual([]);
    expect(started).toEqual(['w run 1']);
    // No run had started, so no process can be left: nothing to look for.
    expect(orphanKills).toEqual([]);
  });

  it('records the started runs interrupted (orphans killed first), then starts the waiting ones in the order they came due', async () => {
    const late = { ...executingTask('late'), state: { status: 'Executing' as const, run: 3, nextRunAt: null, stopRequested: false } };
    const { recorded, started, orphanKills } = await recover(
      [late, executingTask('ran'), executingTask('early')],
      [[runRecord(3, null)], [runRecord(1, T0 + 10)], [runRecord(1, null)]],
    );
    expect(recorded.map(({ id, event }) => `${id} run ${event.run} ${event.result.outcome}`)).toEqual(['ran run 1 interrupted']);
    expect(orphanKills).toEqual([0]);
    expect(started).toEqual(['early run 1', 'late run 3']);
  });

  it('under overlap allow, tells each run in progress apart: the started ones interrupted, the waiting ones started', async () => {
    const task: Task = { ...executingTask('par'), state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, parallel: [{ run: 2, fire: T0 + 2 }, { run: 3, fire: T0 + 3 }] } };
    const { recorded, started } = await recover([task], [[runRecord(1, T0 + 1), runRecord(2, null), runRecord(3, T0 + 3)]]);
    expect(recorded.map(({ event }) => event.run)).toEqual([1, 3]);
    expect(started).toEqual(['par run 2']);
  });

  it("ends an interrupted run when the daemon last knew it alive: its last output or heartbeat, never before its start", async () => {
    const alive = await recover([executingTask('a')], [[runRecord(1, T0 + 10)]], T0 + 7_000);
    expect(alive.recorded[0]!.event.result).toMatchObject({ outcome: 'interrupted', finishedAt: T0 + 7_000 });
    const beforeStart = await recover([executingTask('b')], [[runRecord(1, T0 + 10)]], T0 + 5);
    expect(beforeStart.recorded[0]!.event.result.finishedAt).toBe(T0 + 10);
    const nothingKnown = await recover([executingTask('c')], [[runRecord(1, T0 + 10)]]);
    expect(nothingKnown.recorded[0]!.event.result.finishedAt).toBe(T0 + 10);
    // No record (pruned or damaged) and no sign of life: the restart is all there is.
    const noRecord = await recover([executingTask('d')], [[]]);
    expect(noRecord.recorded[0]!.event.result.finishedAt).toBe(T0 + 60_000);
  });
});
