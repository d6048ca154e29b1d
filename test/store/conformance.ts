/**
 * The TaskStore conformance suite: what every storage backend must do, written against the
 * TaskStore interface only (src/store/task-store.ts). A backend's test file calls
 * describeTaskStoreConformance with a factory that hands out a fresh, empty store and a
 * cleanup that closes it and removes whatever it created.
 *
 *   describeTaskStoreConformance('SqliteTaskStore', async () => { ... return { store, cleanup } });
 */
import { defaultExecution } from '../../src/core/execution.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError, type ErrorCode } from '../../src/core/errors.js';
import type { Schedule } from '../../src/core/schedule.js';
import { droppedOutput, type CapturedOutput, type Run, type RunSummary, type Task, type TaskState } from '../../src/core/task.js';
import type { RunResult } from '../../src/core/transition.js';
import type { TaskStore } from '../../src/store/task-store.js';

/** A fresh, empty store, and how to get rid of it. */
export interface StoreFixture {
  store: TaskStore;
  /**
   * Another store over the same storage through a connection of its own, as a second daemon
   * would have: the races are run between connections, where only the store's compare-and-set
   * keeps them apart. Closed by cleanup.
   */
  connect(): TaskStore;
  cleanup(): Promise<void>;
}

const t0 = Date.parse('2026-11-25T10:00:00.000Z');
const minute = 60_000;

/**
 * A task as the engine would submit it at t0, with `overrides` applied: a delay task of 1m,
 * or with type cron, every 1m (unless `overrides` gives the schedule).
 */
export function makeTask(id: string, overrides: Partial<Task> = {}): Task {
  const schedule: Schedule =
    overrides.type === 'cron' ? { kind: 'interval', everyMs: minute, first: t0 + minute, end: null } : { kind: 'once', at: t0 + minute };
  return {
    id,
    type: 'delay',
    time: '1m',
    schedule,
    timezone: 'UTC',
    policy: { overlap: 'skip', retry: null, catchUp: { mode: 'once', windowMs: null } },
    script: 'echo hi',
    lang: 'bash',
    execution: defaultExecution,
    createdAt: t0,
    state: { status: 'ToBeExecuted', nextRunAt: t0 + minute },
    lastStatusUpdated: t0,
    version: 1,
    lastRun: 0,
    ...overrides,
  };
}

const noOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };

/** A run record as the engine inserts it when a run starts. */
function runningRun(run: number, scheduledAt: number, startedAt: number): Run {
  return {
    run,
    scheduledAt,
    attempt: 1,
    startedAt,
    finishedAt: null,
    outcome: 'running',
    exitCode: null,
    signal: null,
    error: null,
    stdout: noOutput,
    stderr: noOutput,
    outputCap: 4096,
  };
}

/** A run record as the engine inserts it for a tick that came while a run was executing. */
function skippedRun(run: number, scheduledAt: number): Run {
  return {
    ...runningRun(run, scheduledAt, 0),
    startedAt: null,
    finishedAt: scheduledAt + 3,
    outcome: 'skipped',
    error: 'run 1 was still executing',
  };
}

/** How a run ended, as the runner reports it. */
function succeeded(finishedAt: number, overrides: Partial<RunResult> = {}): RunResult {
  return {
    outcome: 'succeeded',
    startedAt: null,
    finishedAt,
    exitCode: 0,
    signal: null,
    error: null,
    stdout: { text: 'hi\n', totalBytes: 3, droppedBytes: 0, droppedAt: 0 },
    stderr: noOutput,
    outputCap: 4096,
    ...overrides,
  };
}

/** `task` one version later, in `state`, with `patch` applied. */
function next(task: Task, state: TaskState, patch: Partial<Task> = {}): Task {
  return { ...task, state, version: task.version + 1, ...patch };
}

/** Expects `promise` to reject with a SchedulerError of `code`. */
async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error, `expected a SchedulerError "${code}"`).toBeInstanceOf(SchedulerError);
  expect((error as SchedulerError).code).toBe(code);
}

/** Every state a task can be stored in. */
const stateVariants: Array<[string, TaskState]> = [
  ['ToBeExecuted', { status: 'ToBeExecuted', nextRunAt: t0 + minute }],
  ['Executing, delay (no next tick)', { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }],
  ['Executing, cron with a next tick', { status: 'Executing', run: 7, nextRunAt: t0 + 8 * minute, stopRequested: false }],
  ['Executing, cron with a stop requested', { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true }],
  ['Executing, recurring with a pause requested', { status: 'Executing', run: 2, nextRunAt: null, stopRequested: false, pauseRequested: true }],
  ['Executing, a retry (fire and attempt)', { status: 'Executing', run: 4, nextRunAt: t0 + 8 * minute, stopRequested: false, fire: t0 + 7 * minute, attempt: 2 }],
  ['Executing, with a fire queued (overlap queue or replace)', { status: 'Executing', run: 4, nextRunAt: t0 + 9 * minute, stopRequested: false, fire: t0 + 7 * minute, attempt: 1, queued: t0 + 8 * minute }],
  ['Executing, catching up a backlog (catch-up all)', { status: 'Executing', run: 4, nextRunAt: t0 + 9 * minute, stopRequested: false, fire: t0 + 2 * minute, attempt: 1, queued: t0 + 3 * minute, backlog: true }],
  ['WaitForNextExecution', { status: 'WaitForNextExecution', nextRunAt: t0 + 5 * minute }],
  ['WaitForNextExecution, a retry pending', { status: 'WaitForNextExecution', nextRunAt: t0 + 5 * minute + 1_500, retry: { fire: t0 + 5 * minute, attempt: 2, thenNextRunAt: t0 + 6 * minute } }],
  ['WaitForNextExecution, a queued fire to start as it is', { status: 'WaitForNextExecution', nextRunAt: t0 + 5 * minute, retry: { fire: t0 + 5 * minute, attempt: 1, thenNextRunAt: t0 + 6 * minute } }],
  ['WaitForNextExecution, a delay task\'s retry pending', { status: 'WaitForNextExecution', nextRunAt: t0 + 5 * minute, retry: { fire: t0 + 4 * minute, attempt: 3, thenNextRunAt: null } }],
  ['Executed', { status: 'Executed' }],
  ['Stopped', { status: 'Stopped' }],
  ['Paused', { status: 'Paused' }],
];

/** Every kind of schedule, with and without its bounds, in a few zones. */
const scheduleVariants: Array<[string, Pick<Task, 'type' | 'time' | 'schedule' | 'timezone'>]> = [
  ['delay (once, at submission + time)', { type: 'delay', time: '1m', schedule: { kind: 'once', at: t0 + minute }, timezone: 'UTC' }],
  ['at (once, at a time) in New York', { type: 'at', time: '2026-12-01 09:30', schedule: { kind: 'once', at: Date.parse('2026-12-01T14:30:00Z') }, timezone: 'America/New_York' }],
  ['interval without an end', { type: 'cron', time: '10s', schedule: { kind: 'interval', everyMs: 10_000, first: t0 + 10_000, end: null }, timezone: 'UTC' }],
  ['interval with a start and an end', { type: 'cron', time: '1h', schedule: { kind: 'interval', everyMs: 3_600_000, first: t0 + 7 * 86_400_000, end: t0 + 14 * 86_400_000 + 1 }, timezone: 'Asia/Kolkata' }],
  ['calendar without bounds', { type: 'cron', time: '0 9 * * MON-FRI', schedule: { kind: 'calendar', expression: '0 9 * * MON-FRI', timezone: 'Europe/Berlin', start: null, end: null }, timezone: 'Europe/Berlin' }],
  ['calendar with a start only', { type: 'cron', time: '@hourly', schedule: { kind: 'calendar', expression: '@hourly', timezone: 'UTC', start: t0 + 3 * minute, end: null }, timezone: 'UTC' }],
  ['calendar with an end only', { type: 'cron', time: '0 10 * * 5L', schedule: { kind: 'calendar', expression: '0 10 * * 5L', timezone: 'America/New_York', start: null, end: t0 + 90 * 86_400_000 }, timezone: 'America/New_York' }],
  [
    'calendar with 7 fields, a start and an end',
    { type: 'cron', time: '*/10 0-5 12 1W 1,7 * 2027-2030', schedule: { kind: 'calendar', expression: '*/10 0-5 12 1W 1,7 * 2027-2030', timezone: 'Australia/Lord_Howe', start: t0 - 1, end: t0 + 5 * 365 * 86_400_000 }, timezone: 'Australia/Lord_Howe' },
  ],
];

export function describeTaskStoreConformance(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`TaskStore conformance: ${name}`, () => {
    let fixture: StoreFixture;
    let store: TaskStore;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    /** Inserts `task` and returns it. */
    async function insertIn(task: Task): Promise<Task> {
      await store.insertTask(task);
      return task;
    }

    /** Runs a task through `runs` complete runs (insert then finish), as the engine does. */
    async function runTimes(task: Task, runs: number, keepRuns: number): Promise<Task> {
      let current = task;
      for (let i = 0; i < runs; i++) {
        const run = current.lastRun + 1;
        const scheduledAt = t0 + run * minute;
        const executing = next(current, { status: 'Executing', run, nextRunAt: scheduledAt + minute, stopRequested: false }, { lastRun: run });
        await store.saveTask({
          task: executing,
          expectedVersion: current.version,
          runChange: { kind: 'insert', run: runningRun(run, scheduledAt, scheduledAt + 1) },
          keepRuns,
        });
        const waiting = next(executing, { status: 'WaitForNextExecution', nextRunAt: scheduledAt + minute });
        await store.saveTask({
          task: waiting,
          expectedVersion: executing.version,
          runChange: { kind: 'finish', run, result: succeeded(scheduledAt + 2) },
          keepRuns,
        });
        current = waiting;
      }
      return current;
    }

    describe('insertTask and getTask', () => {
      it('round-trips every field of a task', async () => {
        const task = makeTask('Every.field_1-x', {
          type: 'cron',
          time: '1h30m',
          schedule: { kind: 'interval', everyMs: 5_400_000, first: t0 + 123 + 5_400_000, end: t0 + 86_400_000 },
          timezone: 'Europe/Berlin',
          script: "set -e\necho \"quoted\" 'single' $((1+2)) \\ back\ttab\n# ünïcödé ✓ 日本語\n",
          createdAt: t0 + 123,
          state: { status: 'WaitForNextExecution', nextRunAt: t0 + 123 + 2 * 5_400_000 },
          lastStatusUpdated: t0 + 5_400_456,
          version: 17,
          lastRun: 9,
        });
        await store.insertTask(task);
        expect(await store.getTask(task.id)).toEqual(task);
      });

      it.each(stateVariants)('round-trips the state %s', async (_label, state) => {
        const task = makeTask('variant', { type: 'cron', state, lastRun: 7, version: 4 });
        await store.insertTask(task);
        const read = await store.getTask('variant');
        expect(read).toEqual(task);
        // Exactly the fields of the variant: no stray nextRunAt on a final state, and so on.
        expect(Object.keys(read!.state).sort()).toEqual(Object.keys(state).sort());
      });

      it.each(stateVariants)('round-trips the state %s when written by saveTask', async (_label, state) => {
        const task = await insertIn(makeTask('saved', { type: 'cron' }));
        const saved = next(task, state, { lastRun: 7, lastStatusUpdated: t0 + 999 });
        await store.saveTask({ task: saved, expectedVersion: 1, keepRuns: 10 });
        const read = await store.getTask('saved');
        expect(read).toEqual(saved);
        expect(Object.keys(read!.state).sort()).toEqual(Object.keys(state).sort());
      });

      it.each(scheduleVariants)('round-trips the schedule and zone of a task: %s', async (_label, definition) => {
        const task = makeTask('scheduled', { ...definition, state: { status: 'WaitForNextExecution', nextRunAt: t0 + 5 * minute }, lastRun: 1, version: 2 });
        await store.insertTask(task);
        const read = await store.getTask('scheduled');
        expect(read).toEqual(task);
        expect(read!.schedule).toEqual(definition.schedule);
        expect(read!.timezone).toBe(definition.timezone);
        expect((await store.getTaskWithRuns('scheduled'))!.task).toEqual(task);
        expect((await store.listTasks({ limit: 10 })).tasks).toEqual([task]);
        expect((await store.listTasks({ limit: 10, status: 'WaitForNextExecution' })).tasks).toEqual([task]);
        expect(await store.listDueTasks({ now: t0 + 5 * minute, limit: 10 })).toEqual([task]);
      });

      it('keeps the schedule and zone of a task through saveTask, and of each task apart', async () => {
        const tasks = scheduleVariants.map(([_label, definition], index) => makeTask(`s${index}`, { ...definition }));
        for (const task of tasks) await store.insertTask(task);
        const first = tasks[0]!;
        const executing = next(first, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        const done = next(executing, { status: 'Executed' });
        await store.saveTask({ task: done, expectedVersion: 2, runChange: { kind: 'finish', run: 1, result: succeeded(t0 + 2 * minute) }, keepRuns: 10 });
        expect(await store.getTask(first.id)).toEqual(done);
        expect((await store.listTasks({ limit: 100 })).tasks).toEqual([done, ...tasks.slice(1)]);
        expect(await store.listExecutingTasks()).toEqual([]);
      });

      it.each(stateVariants)('writes the state %s over the same status and next fire, given the task as it was (previous)', async (_label, state) => {
        // The state before differs in all but its status and next fire (SQLite then leaves its indexes alone).
        const before: TaskState =
          state.status === 'Executing' ? { ...state, run: state.run + 1, stopRequested: !state.stopRequested, fire: t0 + 3 * minute } : state;
        const task = makeTask('kept', { type: 'cron', state: before, lastRun: 6, version: 4 });
        await store.insertTask(task);
        const saved = next(task, state, { lastRun: 7, lastStatusUpdated: t0 + 999 });
        await store.saveTask({ task: saved, expectedVersion: 4, keepRuns: 10, previous: task });
        expect(await store.getTask('kept')).toEqual(saved);
        expect((await store.listTasks({ limit: 10, status: state.status })).tasks).toEqual([saved]);
        const due = 'nextRunAt' in state ? state.nextRunAt : null;
        expect(await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 10 })).toEqual(due === null ? [] : [saved]);
        // And the next write, which moves the status, moves it in the listings too.
        const stopped = next(saved, { status: 'Stopped' });
        await store.saveTask({ task: stopped, expectedVersion: 5, keepRuns: 10, previous: saved });
        expect((await store.listTasks({ limit: 10, status: 'Stopped' })).tasks).toEqual([stopped]);
        expect((await store.listTasks({ limit: 10, status: state.status })).tasks).toEqual(state.status === 'Stopped' ? [stopped] : []);
        expect(await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 10 })).toEqual([]);
      });

      it('refuses a write over the same status at a version the task has left, given the task as it was', async () => {
        const task = await insertIn(makeTask('raced', { type: 'cron' }));
        await store.saveTask({ task: next(task, { status: 'Paused' }), expectedVersion: 1, keepRuns: 10, previous: task });
        await expectCode(store.saveTask({ task: next(task, task.state, { lastRun: 3 }), expectedVersion: 1, keepRuns: 10, previous: task }), 'version_conflict');
        expect((await store.getTask('raced'))!.state).toEqual({ status: 'Paused' });
      });

      it('round-trips where and how its runs execute', async () => {
        const execution = {
          env: { A: '1', EMPTY: '', QUOTES: `it's "quoted"` },
          cwd: '/srv/app',
          user: 'alice',
          queue: 'gpu',
          sandbox: true,
          network: true,
          limits: { cpuSeconds: 30, memoryBytes: 512 * 1024 * 1024, processes: 64, openFiles: 256, outputBytes: 1024 },
        };
        await store.insertTask(makeTask('configured', { execution }));
        expect((await store.getTask('configured'))?.execution).toEqual(execution);
        expect((await store.listTasks({ limit: 10 })).tasks.find((task) => task.id === 'configured')?.execution).toEqual(execution);
      });

      it('returns undefined for an unknown id', async () => {
        await store.insertTask(makeTask('known'));
        expect(await store.getTask('unknown')).toBeUndefined();
      });

      it('treats ids as exact strings (case matters)', async () => {
        await store.insertTask(makeTask('task', { script: 'lower' }));
        await store.insertTask(makeTask('Task', { script: 'upper' }));
        expect((await store.getTask('task'))?.script).toBe('lower');
        expect((await store.getTask('Task'))?.script).toBe('upper');
        expect(await store.getTask('TASK')).toBeUndefined();
      });

      it('reads the version alone: as stored, raised by each save, undefined for an unknown or deleted id', async () => {
        expect(await store.taskVersion('versioned')).toBeUndefined();
        const task = await insertIn(makeTask('versioned', { type: 'cron' }));
        expect(await store.taskVersion('versioned')).toBe(1);
        const ran = await runTimes(task, 2, 10);
        expect(ran.version).toBe(5);
        expect(await store.taskVersion('versioned')).toBe(5);
        expect(await store.taskVersion('VERSIONED')).toBeUndefined();
        await store.deleteTask('versioned');
        expect(await store.taskVersion('versioned')).toBeUndefined();
        await insertIn(makeTask('imported', { version: 7, state: { status: 'Stopped' } }));
        expect(await store.taskVersion('imported')).toBe(7);
      });

      it('refuses a second task with the same id (already_exists) and keeps the original', async () => {
        const original = makeTask('dup', { script: 'echo original', version: 3, state: { status: 'Stopped' } });
        await store.insertTask(original);
        await expectCode(store.insertTask(makeTask('dup', { script: 'echo impostor', type: 'cron' })), 'already_exists');
        expect(await store.getTask('dup')).toEqual(original);
        const page = await store.listTasks({ limit: 10 });
        expect(page.tasks).toEqual([original]);
      });

      it('keeps a task timeout, and its absence', async () => {
        const bounded = makeTask('bounded', { runTimeout: { text: '1m30s', ms: 90_000 } });
        await store.insertTask(bounded);
        expect(await store.getTask('bounded')).toEqual(bounded);
        await store.insertTask(makeTask('unbounded'));
        expect(await store.getTask('unbounded')).not.toHaveProperty('runTimeout');
      });

      it('refuses only the duplicate among inserts issued together, and stores the rest', async () => {
        const first = makeTask('same', { script: 'echo first' });
        const results = await Promise.allSettled([
          store.insertTask(makeTask('one')),
          store.insertTask(first),
          store.insertTask(makeTask('same', { script: 'echo second' })),
          store.insertTask(makeTask('two')),
        ]);
        expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
        const refusal = (results[2] as PromiseRejectedResult).reason;
        expect(refusal).toMatchObject({ code: 'already_exists' });
        expect(await store.getTask('same')).toEqual(first);
        expect((await store.listTasks({ limit: 10 })).tasks.map((task) => task.id)).toEqual(['one', 'same', 'two']);
      });

      it('starts a task with no runs', async () => {
        await store.insertTask(makeTask('fresh'));
        expect(await store.listRuns('fresh')).toEqual([]);
      });
    });

    describe('saveTask (compare-and-set on the version)', () => {
      it('writes the new state when the expected version matches', async () => {
        const task = await insertIn(makeTask('cas'));
        const stopped = next(task, { status: 'Stopped' }, { lastStatusUpdated: t0 + 5 });
        await store.saveTask({ task: stopped, expectedVersion: 1, keepRuns: 10 });
        expect(await store.getTask('cas')).toEqual(stopped);
        // And again from the new version.
        const again = { ...stopped, version: 3, lastStatusUpdated: t0 + 6 };
        await store.saveTask({ task: again, expectedVersion: 2, keepRuns: 10 });
        expect(await store.getTask('cas')).toEqual(again);
      });

      it.each([0, 2, 99])('refuses expectedVersion %i when the stored version is 1, writing nothing', async (expectedVersion) => {
        const task = await insertIn(makeTask('cas'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await expectCode(
          store.saveTask({
            task: executing,
            expectedVersion,
            runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) },
            keepRuns: 10,
          }),
          'version_conflict',
        );
        expect(await store.getTask('cas')).toEqual(task);
        expect(await store.listRuns('cas')).toEqual([]);
        expect(await store.listExecutingTasks()).toEqual([]);
      });

      it('refuses a finish with a stale version, leaving the run as it was', async () => {
        const task = await insertIn(makeTask('cas'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const started = runningRun(1, t0 + minute, t0 + minute + 1);
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 10 });
        const executed = next(executing, { status: 'Executed' });
        await expectCode(
          store.saveTask({
            task: executed,
            expectedVersion: 1, // stale: the store has version 2
            runChange: { kind: 'finish', run: 1, result: succeeded(t0 + 2 * minute) },
            keepRuns: 10,
          }),
          'version_conflict',
        );
        expect(await store.getTask('cas')).toEqual(executing);
        expect(await store.listRuns('cas')).toEqual([started]);
      });

      it('refuses to save a task that does not exist, and does not create it', async () => {
        const ghost = makeTask('ghost', { version: 2, state: { status: 'Stopped' } });
        await expectCode(store.saveTask({ task: ghost, expectedVersion: 1, keepRuns: 10 }), 'version_conflict');
        expect(await store.getTask('ghost')).toBeUndefined();
        expect((await store.listTasks({ limit: 10 })).tasks).toEqual([]);
      });

      it('saves sent together (as a burst of fires sends them) are each their own compare-and-set: a refused one takes nothing else with it', async () => {
        const tasks = await Promise.all(['t0', 't1', 't2', 't3'].map((id) => insertIn(makeTask(id))));
        const executing = (task: Task) => next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const insertRun = (task: Task) => ({ kind: 'insert' as const, run: runningRun(1, t0 + minute, t0 + minute + Number(task.id.slice(1))) });
        const [first, second] = [executing(tasks[1]!), { ...executing(tasks[1]!), lastStatusUpdated: t0 + 9 }];
        // All sent in the same turn: t2's version is stale, and t1 is saved twice from version 1.
        const saves = await Promise.allSettled([
          store.saveTask({ task: executing(tasks[0]!), expectedVersion: 1, runChange: insertRun(tasks[0]!), keepRuns: 10 }),
          store.saveTask({ task: first, expectedVersion: 1, runChange: insertRun(tasks[1]!), keepRuns: 10 }),
          store.saveTask({ task: executing(tasks[2]!), expectedVersion: 7, runChange: insertRun(tasks[2]!), keepRuns: 10 }),
          store.saveTask({ task: second, expectedVersion: 1, runChange: insertRun(tasks[1]!), keepRuns: 10 }),
          store.saveTask({ task: executing(tasks[3]!), expectedVersion: 1, runChange: insertRun(tasks[3]!), keepRuns: 10 }),
        ]);
        expect(saves.map((save) => save.status)).toEqual(['fulfilled', expect.any(String), 'rejected', expect.any(String), 'fulfilled']);
        // Of the two saves of t1 from the same version exactly one wins, whichever the store took first.
        expect([saves[1]!.status, saves[3]!.status].sort()).toEqual(['fulfilled', 'rejected']);
        for (const refused of saves.filter((save): save is PromiseRejectedResult => save.status === 'rejected')) {
          expect((refused.reason as SchedulerError).code).toBe('version_conflict');
        }
        const t1Winner = saves[1]!.status === 'fulfilled' ? first : second;
        expect(await store.getTask('t0')).toEqual(executing(tasks[0]!));
        expect(await store.getTask('t1')).toEqual(t1Winner);
        expect(await store.listRuns('t1')).toEqual([insertRun(tasks[1]!).run]);
        expect(await store.getTask('t2')).toEqual(tasks[2]);
        expect(await store.listRuns('t2')).toEqual([]);
        expect(await store.getTask('t3')).toEqual(executing(tasks[3]!));
        expect(await store.listRuns('t3')).toEqual([insertRun(tasks[3]!).run]);
      });

      /**
       * The race of two writers (say two daemons) that read the same version: exactly one
       * wins, the other gets a typed conflict (version_conflict), never a silent overwrite, and
       * the stored task and runs are the winner's. Run in both orders of issue.
       */
      it.each([
        ['the stop issued first', false],
        ['the start issued first', true],
      ])('two connections racing writes from the same version: exactly one wins, the other a version_conflict (%s)', async (_order, startFirst) => {
        const task = await insertIn(makeTask('race'));
        const [mine, theirs] = [store, fixture.connect()];
        // Each writer read version 1 through its own connection.
        expect(await mine.getTask('race')).toEqual(task);
        expect(await theirs.getTask('race')).toEqual(task);
        const stopped = next(task, { status: 'Stopped' }, { lastStatusUpdated: t0 + 1 });
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const started = runningRun(1, t0 + minute, t0 + minute);
        const stop = () => mine.saveTask({ task: stopped, expectedVersion: 1, keepRuns: 10 });
        const start = () => theirs.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 10 });
        const [stopOutcome, startOutcome] = startFirst
          ? await Promise.allSettled([start(), stop()]).then(([a, b]) => [b, a])
          : await Promise.allSettled([stop(), start()]);
        const outcomes = [stopOutcome!, startOutcome!];
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled'), 'exactly one writer wins').toHaveLength(1);
        const lost = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')!;
        expect(lost.reason).toBeInstanceOf(SchedulerError);
        expect((lost.reason as SchedulerError).code).toBe('version_conflict');
        const winner = stopOutcome!.status === 'fulfilled' ? { task: stopped, runs: [] } : { task: executing, runs: [started] };
        // Both connections see the winner's write, whole, and nothing of the loser's.
        for (const connection of [mine, theirs]) {
          expect(await connection.getTask('race')).toEqual(winner.task);
          expect(await connection.listRuns('race')).toEqual(winner.runs);
        }
      });

      it('four connections racing from the same version: one wins, three get version_conflict, the stored task is the winner\'s', async () => {
        const task = await insertIn(makeTask('crowd'));
        const connections = [store, fixture.connect(), fixture.connect(), fixture.connect()];
        const writes = connections.map((_, index) => next(task, { status: 'Stopped' }, { lastStatusUpdated: t0 + index + 1 }));
        const outcomes = await Promise.allSettled(connections.map((connection, index) => connection.saveTask({ task: writes[index]!, expectedVersion: 1, keepRuns: 10 })));
        const winners = outcomes.flatMap((outcome, index) => (outcome.status === 'fulfilled' ? [index] : []));
        expect(winners).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') expect((outcome.reason as SchedulerError).code).toBe('version_conflict');
        }
        expect(await connections[3]!.getTask('crowd')).toEqual(writes[winners[0]!]);
      });

      it('two connections each changing the task 20 times, retrying on conflict: no change is lost', async () => {
        await insertIn(makeTask('counted', { lastStatusUpdated: 0 }));
        const conflicts: number[] = [];
        /** Read, change, compare-and-set; read again and retry on a conflict, as the engine does. */
        async function bumpTimes(connection: TaskStore, times: number): Promise<void> {
          for (let done = 0; done < times; ) {
            const current = (await connection.getTask('counted'))!;
            // Let the other writer read the same version before this one writes.
            await new Promise((resolve) => setImmediate(resolve));
            try {
              await connection.saveTask({ task: next(current, current.state, { lastStatusUpdated: current.lastStatusUpdated + 1 }), expectedVersion: current.version, keepRuns: 10 });
              done++;
            } catch (error) {
              expect((error as SchedulerError).code).toBe('version_conflict');
              conflicts.push(1);
            }
          }
        }
        await Promise.all([bumpTimes(store, 20), bumpTimes(fixture.connect(), 20)]);
        const final = (await store.getTask('counted'))!;
        expect(final.lastStatusUpdated, 'every change that was acknowledged is there').toBe(40);
        expect(final.version).toBe(41);
        // The two writers did collide: the guard was exercised, not merely present.
        expect(conflicts.length).toBeGreaterThan(0);
      });
    });

    describe('runs', () => {
      it('records a started run with the task, every field intact', async () => {
        const task = await insertIn(makeTask('r'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const started: Run = { ...runningRun(1, t0 + minute, t0 + minute + 7), outputCap: 1234 };
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 10 });
        expect(await store.getTask('r')).toEqual(executing);
        expect(await store.listRuns('r')).toEqual([started]);
      });

      it('reads a task with its runs in one call, and nothing for an unknown id', async () => {
        const task = await insertIn(makeTask('both'));
        expect(await store.getTaskWithRuns('both')).toEqual({ task, runs: [] });
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const started = runningRun(1, t0 + minute, t0 + minute + 3);
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 10 });
        expect(await store.getTaskWithRuns('both')).toEqual({ task: executing, runs: [started] });
        expect(await store.getTaskWithRuns('nobody')).toBeUndefined();
      });

      it('pages through runs newest first, filters by outcome, and reads one run', async () => {
        // Runs 1..5 of a cron task: 2 and 4 skipped, the others recorded as they started.
        let task = await insertIn(makeTask('hist', { type: 'cron', state: { status: 'Executing', run: 1, nextRunAt: t0 + 2 * minute, stopRequested: false } }));
        const records: Run[] = [];
        for (let run = 1; run <= 5; run++) {
          const record = run % 2 === 0 ? skippedRun(run, t0 + run * minute) : runningRun(run, t0 + run * minute, t0 + run * minute + 1);
          const after = next(task, task.state, { lastRun: run });
          await store.saveTask({ task: after, expectedVersion: task.version, runChange: { kind: 'insert', run: record }, keepRuns: 10 });
          task = after;
          records.push(record);
        }
        const first = await store.listRunsPage({ taskId: 'hist', limit: 2 });
        expect(first.runs.map((r) => r.run)).toEqual([5, 4]);
        expect(first.nextCursor).not.toBeNull();
        const second = await store.listRunsPage({ taskId: 'hist', limit: 2, cursor: first.nextCursor! });
        expect(second.runs.map((r) => r.run)).toEqual([3, 2]);
        const last = await store.listRunsPage({ taskId: 'hist', limit: 2, cursor: second.nextCursor! });
        expect(last).toEqual({ runs: [records[0]], nextCursor: null });

        const skipped = await store.listRunsPage({ taskId: 'hist', limit: 10, outcome: 'skipped' });
        expect(skipped).toEqual({ runs: [records[3], records[1]], nextCursor: null });
        expect(await store.listRunsPage({ taskId: 'hist', limit: 10, outcome: 'failed' })).toEqual({ runs: [], nextCursor: null });
        expect(await store.listRunsPage({ taskId: 'nobody', limit: 10 })).toEqual({ runs: [], nextCursor: null });
        await expectCode(store.listRunsPage({ taskId: 'hist', limit: 2, cursor: 'not-a-cursor' }), 'invalid_request');

        expect(await store.getRun('hist', 3)).toEqual(records[2]);
        expect(await store.getRun('hist', 6)).toBeUndefined();
        expect(await store.getRun('nobody', 1)).toBeUndefined();
      });

      it('round-trips a skipped run', async () => {
        const task = await insertIn(makeTask('s', { type: 'cron', state: { status: 'Executing', run: 1, nextRunAt: t0 + 2 * minute, stopRequested: false }, lastRun: 1 }));
        const skipped = skippedRun(2, t0 + 2 * minute);
        const after = next(task, { status: 'Executing', run: 1, nextRunAt: t0 + 3 * minute, stopRequested: false }, { lastRun: 2 });
        await store.saveTask({ task: after, expectedVersion: task.version, runChange: { kind: 'insert', run: skipped }, keepRuns: 10 });
        expect(await store.listRuns('s')).toEqual([skipped]);
      });

      describe('an insert with the record of the fires missed before it (catch-up)', () => {
        /** A cron task that ran once, waiting for +2m, fired at +10m: runs 2 (missed) and 3 (started) in one write. */
        async function caughtUp(keepRuns: number) {
          const task = await insertIn(makeTask('late', { type: 'cron', state: { status: 'WaitForNextExecution', nextRunAt: t0 + 2 * minute }, lastRun: 1, version: 3 }));
          const missed: Run = {
            ...skippedRun(2, t0 + 2 * minute),
            finishedAt: t0 + 10 * minute,
            error: '7 fires passed while the task could not run (the daemon was not running, or was busy); catch-up once: the latest runs instead',
          };
          const started = runningRun(3, t0 + 9 * minute, t0 + 10 * minute);
          const executing = next(task, { status: 'Executing', run: 3, nextRunAt: t0 + 11 * minute, stopRequested: false }, { lastRun: 3 });
          await store.saveTask({ task: executing, expectedVersion: task.version, runChange: { kind: 'insert', run: started, skipped: missed }, keepRuns });
          return { task, executing, missed, started };
        }

        it('writes both records with the task: the missed one first, then the run', async () => {
          const { executing, missed, started } = await caughtUp(10);
          expect(await store.getTask('late')).toEqual(executing);
          expect(await store.listRuns('late')).toEqual([missed, started]);
          expect(await store.getTaskWithRuns('late')).toEqual({ task: executing, runs: [missed, started] });
          expect(await store.getRun('late', 2)).toEqual(missed);
          expect(await store.getRun('late', 3)).toEqual(started);
          expect(await store.listRunsPage({ taskId: 'late', limit: 10 })).toEqual({ runs: [started, missed], nextCursor: null });
          expect(await store.listRunsPage({ taskId: 'late', limit: 10, outcome: 'skipped' })).toEqual({ runs: [missed], nextCursor: null });
          expect(await store.listExecutingTasks()).toEqual([executing]);
        });

        it('then finishes the run like any other, leaving the missed record as it is', async () => {
          const { executing, missed } = await caughtUp(10);
          const waiting = next(executing, { status: 'WaitForNextExecution', nextRunAt: t0 + 11 * minute });
          await store.saveTask({ task: waiting, expectedVersion: executing.version, runChange: { kind: 'finish', run: 3, result: succeeded(t0 + 10 * minute + 5) }, keepRuns: 10 });
          const runs = await store.listRuns('late');
          expect(runs[0]).toEqual(missed);
          expect(runs[1]).toMatchObject({ run: 3, outcome: 'succeeded', finishedAt: t0 + 10 * minute + 5 });
        });

        it('writes neither record when the version does not match', async () => {
          const task = await insertIn(makeTask('stale', { type: 'cron', state: { status: 'WaitForNextExecution', nextRunAt: t0 + 2 * minute }, lastRun: 1, version: 3 }));
          const executing = next(task, { status: 'Executing', run: 3, nextRunAt: t0 + 11 * minute, stopRequested: false }, { lastRun: 3 });
          await expectCode(
            store.saveTask({
              task: executing,
              expectedVersion: task.version - 1,
              runChange: { kind: 'insert', run: runningRun(3, t0 + 9 * minute, t0 + 10 * minute), skipped: skippedRun(2, t0 + 2 * minute) },
              keepRuns: 10,
            }),
            'version_conflict',
          );
          expect(await store.getTask('stale')).toEqual(task);
          expect(await store.listRuns('stale')).toEqual([]);
        });

        it('counts both records against keepRuns', async () => {
          // Keeping 1 run: the missed record, finished and older, goes in the same write.
          const { started } = await caughtUp(1);
          expect(await store.listRuns('late')).toEqual([started]);
        });
      });

      it('finishes a run that never started (it could not): its startedAt is cleared', async () => {
        const task = await insertIn(makeTask('nostart'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        const result = succeeded(t0 + minute + 1, { outcome: 'failed', startedAt: null, exitCode: null, error: 'could not start: too many open files (EMFILE)' });
        const executed = next(executing, { status: 'Executed' }, { lastStatusUpdated: t0 + minute + 1 });
        await store.saveTask({ task: executed, expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        expect((await store.listRuns('nostart'))[0]).toMatchObject({ outcome: 'failed', startedAt: null, error: result.error });
      });

      it('keeps output and an error holding NUL bytes (and U+E000) as written, whichever call reads them', async () => {
        const task = await insertIn(makeTask('nul'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        const text = 'a\0b\u{e000}0\u{e000}\u{e000}\0\n';
        const output = { text, totalBytes: Buffer.byteLength(text), droppedBytes: 0, droppedAt: 0 };
        const result = succeeded(t0 + minute + 1, { outcome: 'failed', exitCode: 1, error: 'exit\0 1', stdout: output, stderr: { ...output, text: '\0' , totalBytes: 1 } });
        const executed = next(executing, { status: 'Executed' }, { lastStatusUpdated: t0 + minute + 1 });
        await store.saveTask({ task: executed, expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        const expected = { error: 'exit\0 1', stdout: output, stderr: { ...output, text: '\0', totalBytes: 1 } };
        expect(await store.getRun('nul', 1)).toMatchObject(expected);
        expect((await store.listRuns('nul'))[0]).toMatchObject(expected);
        expect((await store.listRunsPage({ taskId: 'nul', limit: 1 })).runs[0]).toMatchObject(expected);
        expect((await store.getTaskWithRuns('nul'))!.runs[0]).toMatchObject(expected);
        // What the kept output costs is its bytes as written.
        expect(await store.outputBytes()).toBe(Buffer.byteLength(text) + 1);
      });

      it('finishes a run: writes the result, keeps scheduledAt, and keeps the stored startedAt when an interrupted run\'s end has none', async () => {
        const task = await insertIn(makeTask('f'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        const started = runningRun(1, t0 + minute, t0 + minute + 5);
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 10 });
        const result = succeeded(t0 + 2 * minute, {
          // Found after a crash: when it started is what was recorded.
          outcome: 'interrupted',
          startedAt: null,
          exitCode: null,
          signal: 'SIGKILL',
          error: 'killed by SIGKILL',
          // Head and tail kept, the middle dropped.
          stdout: { text: 'partial out ✓', totalBytes: 999_999, droppedBytes: 999_999 - Buffer.byteLength('partial out ✓'), droppedAt: 'partial '.length },
          stderr: { text: 'oops\n', totalBytes: 5, droppedBytes: 0, droppedAt: 0 },
          outputCap: 2048,
        });
        const executed = next(executing, { status: 'Executed' }, { lastStatusUpdated: t0 + 2 * minute });
        await store.saveTask({ task: executed, expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        expect(await store.getTask('f')).toEqual(executed);
        expect(await store.listRuns('f')).toEqual([
          {
            run: 1,
            scheduledAt: started.scheduledAt,
            attempt: 1,
            startedAt: started.startedAt,
            finishedAt: result.finishedAt,
            outcome: 'interrupted',
            exitCode: null,
            signal: 'SIGKILL',
            error: 'killed by SIGKILL',
            stdout: result.stdout,
            stderr: result.stderr,
            outputCap: 2048,
          },
        ]);
      });

      it('finishes a run with the startedAt the result carries', async () => {
        const task = await insertIn(makeTask('f2'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute + 5) }, keepRuns: 10 });
        const result = succeeded(t0 + 2 * minute, { startedAt: t0 + minute + 9, exitCode: 0 });
        await store.saveTask({ task: next(executing, { status: 'Executed' }), expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        const [run] = await store.listRuns('f2');
        expect(run).toMatchObject({ run: 1, scheduledAt: t0 + minute, startedAt: t0 + minute + 9, finishedAt: t0 + 2 * minute, outcome: 'succeeded', exitCode: 0, stdout: { text: 'hi\n', totalBytes: 3, droppedBytes: 0, droppedAt: 0 } });
      });

      it('finishes a run with the limit it hit and how long it waited for a slot', async () => {
        const task = await insertIn(makeTask('limited'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        const result = succeeded(t0 + 2 * minute, { outcome: 'failed', startedAt: t0 + minute + 700, exitCode: null, signal: 'SIGTERM', error: 'hit its memory limit (64MiB)', limit: 'memory', waitedMs: 700 });
        await store.saveTask({ task: next(executing, { status: 'Executed' }), expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        expect((await store.listRuns('limited'))[0]).toMatchObject({ startedAt: t0 + minute + 700, outcome: 'failed', limit: 'memory', waitedMs: 700 });
      });

      it('records a run ended while it waited for a slot as never started', async () => {
        const task = await insertIn(makeTask('never'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        const result = succeeded(t0 + 2 * minute, { outcome: 'killed', startedAt: null, exitCode: null, error: 'ended while waiting for a free slot', waitedMs: minute });
        await store.saveTask({ task: next(executing, { status: 'Executed' }), expectedVersion: 2, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
        const [run] = await store.listRuns('never');
        expect(run).toMatchObject({ startedAt: null, outcome: 'killed', waitedMs: minute });
        expect(run!.limit).toBeUndefined();
      });

      describe('a run recorded while it waits for a free slot', () => {
        /** Task `id` executing run 1, recorded waiting (no startedAt yet). */
        async function waitingRun(id: string): Promise<Task> {
          const task = await insertIn(makeTask(id));
          const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
          const run: Run = { ...runningRun(1, t0 + minute, 0), startedAt: null, waiting: true };
          await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run }, keepRuns: 10 });
          return executing;
        }

        it('is read back waiting, with no startedAt, in every way runs are read', async () => {
          await waitingRun('w');
          expect(await store.getRun('w', 1)).toMatchObject({ outcome: 'running', startedAt: null, waiting: true });
          expect((await store.listRuns('w'))[0]).toMatchObject({ startedAt: null, waiting: true });
          expect((await store.listRunsPage({ taskId: 'w', limit: 5 })).runs[0]).toMatchObject({ startedAt: null, waiting: true });
          expect((await store.getTaskWithRuns('w'))!.runs[0]).toMatchObject({ startedAt: null, waiting: true });
        });

        it('a run recorded as started is not waiting', async () => {
          const task = await insertIn(makeTask('s'));
          const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
          await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
          expect((await store.getRun('s', 1))!.waiting).toBeUndefined();
        });

        it('records its real start with the task: startedAt set, no longer waiting', async () => {
          const executing = await waitingRun('w');
          const started = next(executing, executing.state);
          await store.saveTask({ task: started, expectedVersion: executing.version, runChange: { kind: 'start', run: 1, startedAt: t0 + minute + 500 }, keepRuns: 10 });
          const run = await store.getRun('w', 1);
          expect(run).toMatchObject({ outcome: 'running', startedAt: t0 + minute + 500 });
          expect(run!.waiting).toBeUndefined();
          expect((await store.getTask('w'))!.version).toBe(started.version);
        });

        it('writes no start with a stale version', async () => {
          const executing = await waitingRun('w');
          const started = next(executing, executing.state);
          await expectCode(
            store.saveTask({ task: started, expectedVersion: executing.version - 1, runChange: { kind: 'start', run: 1, startedAt: t0 + minute + 500 }, keepRuns: 10 }),
            'version_conflict',
          );
          expect(await store.getRun('w', 1)).toMatchObject({ startedAt: null, waiting: true });
        });

        it('a start changes nothing on a run that is not waiting (it started, or it ended)', async () => {
          const task = await insertIn(makeTask('s'));
          const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
          await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute + 1) }, keepRuns: 10 });
          await store.saveTask({ task: next(executing, executing.state), expectedVersion: 2, runChange: { kind: 'start', run: 1, startedAt: t0 + minute + 900 }, keepRuns: 10 });
          expect((await store.getRun('s', 1))!.startedAt).toBe(t0 + minute + 1);
        });

        it('is no longer waiting once finished, started or not', async () => {
          const executing = await waitingRun('w');
          const result = succeeded(t0 + 2 * minute, { outcome: 'killed', startedAt: null, exitCode: null, error: 'ended while waiting for a free slot', waitedMs: minute });
          await store.saveTask({ task: next(executing, { status: 'Executed' }), expectedVersion: executing.version, runChange: { kind: 'finish', run: 1, result }, keepRuns: 10 });
          const run = await store.getRun('w', 1);
          expect(run).toMatchObject({ outcome: 'killed', startedAt: null });
          expect(run!.waiting).toBeUndefined();
        });
      });

      it('lists runs oldest first, and only the runs of the task asked for', async () => {
        const a = await insertIn(makeTask('a', { type: 'cron' }));
        const b = await insertIn(makeTask('b', { type: 'cron' }));
        await runTimes(a, 2, 10);
        await runTimes(b, 1, 10);
        const aRuns = await store.listRuns('a');
        expect(aRuns.map((run) => run.run)).toEqual([1, 2]);
        expect(aRuns.map((run) => run.scheduledAt)).toEqual([t0 + minute, t0 + 2 * minute]);
        expect((await store.listRuns('b')).map((run) => run.run)).toEqual([1]);
        expect(await store.listRuns('nobody')).toEqual([]);
      });

      it('keeps at most keepRuns runs, pruning the oldest in the same write', async () => {
        const task = await insertIn(makeTask('p', { type: 'cron' }));
        const after = await runTimes(task, 6, 3);
        const runs = await store.listRuns('p');
        expect(runs.map((run) => run.run)).toEqual([4, 5, 6]);
        expect(runs.every((run) => run.outcome === 'succeeded')).toBe(true);
        expect(await store.getTask('p')).toEqual(after);
      });

      it('keeps only the newest run with keepRuns 1', async () => {
        const task = await insertIn(makeTask('one', { type: 'cron' }));
        await runTimes(task, 3, 1);
        expect((await store.listRuns('one')).map((run) => run.run)).toEqual([3]);
      });

      it('never prunes a running run', async () => {
        // A cron task executing run 1 while six ticks are skipped, with keepRuns 3.
        const task = await insertIn(makeTask('long', { type: 'cron' }));
        let current = next(task, { status: 'Executing', run: 1, nextRunAt: t0 + 2 * minute, stopRequested: false }, { lastRun: 1 });
        const started = runningRun(1, t0 + minute, t0 + minute);
        await store.saveTask({ task: current, expectedVersion: 1, runChange: { kind: 'insert', run: started }, keepRuns: 3 });
        for (let run = 2; run <= 7; run++) {
          const skipped = next(current, { status: 'Executing', run: 1, nextRunAt: t0 + (run + 1) * minute, stopRequested: false }, { lastRun: run });
          await store.saveTask({ task: skipped, expectedVersion: current.version, runChange: { kind: 'insert', run: skippedRun(run, t0 + run * minute) }, keepRuns: 3 });
          current = skipped;
        }
        const during = await store.listRuns('long');
        expect(during[0]).toEqual(started);
        const finished = during.slice(1);
        expect(finished.length).toBeGreaterThan(0);
        expect(finished.length).toBeLessThanOrEqual(3);
        // What is kept besides the running run is the newest runs, oldest first.
        expect(finished.map((run) => run.run)).toEqual(range(8 - finished.length, 7));

        // Once run 1 finishes it is the oldest finished run, and goes.
        const waiting = next(current, { status: 'WaitForNextExecution', nextRunAt: t0 + 8 * minute });
        await store.saveTask({ task: waiting, expectedVersion: current.version, runChange: { kind: 'finish', run: 1, result: succeeded(t0 + 7 * minute + 30_000) }, keepRuns: 3 });
        expect((await store.listRuns('long')).map((run) => run.run)).toEqual([5, 6, 7]);
      });
    });

    describe('importTask (a task brought from another store, with its runs)', () => {
      /** A cron task as exported after three runs: a success with output, a skipped tick, a failure whose output was cut. */
      function exported(id: string): { task: Task; runs: Run[] } {
        const task = makeTask(id, {
          type: 'cron',
          state: { status: 'WaitForNextExecution', nextRunAt: t0 + 9 * minute },
          lastStatusUpdated: t0 + 8 * minute,
          version: 17,
          lastRun: 8,
        });
        const runs: Run[] = [
          { ...runningRun(6, t0 + 6 * minute, t0 + 6 * minute + 2), finishedAt: t0 + 6 * minute + 40, outcome: 'succeeded', exitCode: 0,
            stdout: { text: 'done 6\n', totalBytes: 7, droppedBytes: 0, droppedAt: 0 }, stderr: { text: 'warn\n', totalBytes: 5, droppedBytes: 0, droppedAt: 0 }, waitedMs: 2 },
          skippedRun(7, t0 + 7 * minute),
          { ...runningRun(8, t0 + 8 * minute, t0 + 8 * minute + 1), finishedAt: t0 + 8 * minute + 30, outcome: 'failed', exitCode: 3,
            stdout: { text: 'headtail', totalBytes: 5000, droppedBytes: 4992, droppedAt: 4 }, stderr: noOutput, limit: 'memory' },
        ];
        return { task, runs };
      }

      it('stores the task as it was (state, version, last run) and its runs with their output', async () => {
        const { task, runs } = exported('moved');
        await store.importTask(task, runs);
        expect(await store.getTaskWithRuns('moved')).toEqual({ task, runs });
        expect(await store.getRun('moved', 8)).toEqual(runs[2]);
        expect(await store.outputBytes()).toBe(Buffer.byteLength('done 6\nwarn\nheadtail'));
      });

      it('goes on like any other task: the next run is numbered after the last imported one', async () => {
        const { task, runs } = exported('goes-on');
        await store.importTask(task, runs);
        const executing = next(task, { status: 'Executing', run: 9, nextRunAt: t0 + 10 * minute, stopRequested: false }, { lastRun: 9 });
        await store.saveTask({ task: executing, expectedVersion: task.version, runChange: { kind: 'insert', run: runningRun(9, t0 + 9 * minute, t0 + 9 * minute + 1) }, keepRuns: 3 });
        expect((await store.listRuns('goes-on')).map((run) => run.run)).toEqual([7, 8, 9]);
        expect((await store.getTask('goes-on'))?.version).toBe(18);
      });

      it('stores a task without runs, in any state', async () => {
        for (const [index, [, state]] of stateVariants.entries()) {
          const task = makeTask(`state-${index}`, { state, version: 3, lastRun: 9 });
          await store.importTask(task, []);
          expect(await store.getTaskWithRuns(task.id)).toEqual({ task, runs: [] });
        }
      });

      it('refuses an id that is taken with already_exists, and writes nothing of the import', async () => {
        const kept = await insertIn(makeTask('taken'));
        const { task, runs } = exported('taken');
        await expectCode(store.importTask(task, runs), 'already_exists');
        expect(await store.getTaskWithRuns('taken')).toEqual({ task: kept, runs: [] });
        expect(await store.outputBytes()).toBe(0);
      });

      it('lists imported tasks after those already there, in the order they were imported', async () => {
        await insertIn(makeTask('here'));
        await store.importTask(exported('second').task, []);
        await store.importTask(exported('first').task, []);
        expect((await store.listTasks({ limit: 10 })).tasks.map((task) => task.id)).toEqual(['here', 'second', 'first']);
      });
    });

    describe('listTasks', () => {
      const submissionOrder = ['m', 'c', 'x', 'a', 'q'];

      async function insertAll(): Promise<Task[]> {
        const tasks: Task[] = [];
        for (const [index, id] of submissionOrder.entries()) {
          tasks.push(await insertIn(makeTask(id, { createdAt: t0 + index, script: `echo ${id}` })));
        }
        return tasks;
      }

      it('answers an empty page with no cursor on an empty store', async () => {
        expect(await store.listTasks({ limit: 10 })).toEqual({ tasks: [], nextCursor: null });
      });

      it('pages through the tasks in submission order, with no cursor on the last page', async () => {
        const tasks = await insertAll();
        const first = await store.listTasks({ limit: 2 });
        expect(first.tasks).toEqual(tasks.slice(0, 2));
        expect(first.nextCursor).toEqual(expect.any(String));
        const second = await store.listTasks({ limit: 2, cursor: first.nextCursor! });
        expect(second.tasks).toEqual(tasks.slice(2, 4));
        expect(second.nextCursor).toEqual(expect.any(String));
        const third = await store.listTasks({ limit: 2, cursor: second.nextCursor! });
        expect(third).toEqual({ tasks: tasks.slice(4), nextCursor: null });
      });

      it('gives no cursor when the last page is exactly full', async () => {
        const tasks = await insertAll();
        expect(await store.listTasks({ limit: 5 })).toEqual({ tasks, nextCursor: null });
        expect(await store.listTasks({ limit: 1000 })).toEqual({ tasks, nextCursor: null });
        const first = await store.listTasks({ limit: 4 });
        expect(first.tasks).toHaveLength(4);
        const last = await store.listTasks({ limit: 1, cursor: first.nextCursor! });
        expect(last).toEqual({ tasks: tasks.slice(4), nextCursor: null });
      });

      it('keeps a task at its submission place when it changes', async () => {
        const tasks = await insertAll();
        const stopped = next(tasks[0]!, { status: 'Stopped' });
        await store.saveTask({ task: stopped, expectedVersion: 1, keepRuns: 10 });
        const page = await store.listTasks({ limit: 10 });
        expect(page.tasks.map((task) => task.id)).toEqual(submissionOrder);
        expect(page.tasks[0]).toEqual(stopped);
      });

      it('filters by status, paging within the filter', async () => {
        const tasks = await insertAll();
        for (const index of [1, 3, 4]) {
          await store.saveTask({ task: next(tasks[index]!, { status: 'Stopped' }), expectedVersion: 1, keepRuns: 10 });
        }
        const first = await store.listTasks({ limit: 2, status: 'Stopped' });
        expect(first.tasks.map((task) => task.id)).toEqual(['c', 'a']);
        expect(first.tasks.every((task) => task.state.status === 'Stopped')).toBe(true);
        const second = await store.listTasks({ limit: 2, status: 'Stopped', cursor: first.nextCursor! });
        expect(second.tasks.map((task) => task.id)).toEqual(['q']);
        expect(second.nextCursor).toBeNull();

        const pending = await store.listTasks({ limit: 10, status: 'ToBeExecuted' });
        expect(pending).toEqual({ tasks: [tasks[0], tasks[2]], nextCursor: null });
        expect(await store.listTasks({ limit: 10, status: 'Executing' })).toEqual({ tasks: [], nextCursor: null });
      });

      it('continues after the task a cursor points at was deleted', async () => {
        const tasks = await insertAll();
        const first = await store.listTasks({ limit: 2 });
        expect(await store.deleteTask('c')).toBe(true);
        const rest = await store.listTasks({ limit: 10, cursor: first.nextCursor! });
        expect(rest).toEqual({ tasks: tasks.slice(2), nextCursor: null });
      });

      it.each(['not a cursor', 'abc', '12abc', '-1'])('refuses the cursor %j (invalid_request)', async (cursor) => {
        await insertAll();
        await expectCode(store.listTasks({ limit: 2, cursor }), 'invalid_request');
      });
    });

    describe('listTasks by id prefix', () => {
      // Submitted in an order that is not the ids' order, with ids that a natural-language
      // collation would order otherwise ('-', '.' and '_' ignored, case folded).
      const submitted = ['backup-home', 'deploy-1', 'backup-db', 'Backup-x', 'backup-', 'backups', 'back', 'backup_z', 'backup-a.1', 'backup-Z'];
      /** The ids starting with "backup-", in byte order. */
      const matching = ['backup-', 'backup-Z', 'backup-a.1', 'backup-db', 'backup-home'];

      async function insertAll(): Promise<Map<string, Task>> {
        const tasks = new Map<string, Task>();
        for (const [index, id] of submitted.entries()) tasks.set(id, await insertIn(makeTask(id, { createdAt: t0 + index })));
        return tasks;
      }

      it('keeps the tasks whose id starts with the prefix (case matters), in id order, a page at a time', async () => {
        const tasks = await insertAll();
        const first = await store.listTasks({ limit: 2, prefix: 'backup-' });
        expect(first.tasks).toEqual(matching.slice(0, 2).map((id) => tasks.get(id)));
        expect(first.nextCursor).toEqual(expect.any(String));
        const second = await store.listTasks({ limit: 2, prefix: 'backup-', cursor: first.nextCursor! });
        expect(second.tasks.map((task) => task.id)).toEqual(matching.slice(2, 4));
        const last = await store.listTasks({ limit: 2, prefix: 'backup-', cursor: second.nextCursor! });
        expect(last).toEqual({ tasks: [tasks.get('backup-home')], nextCursor: null });

        expect((await store.listTasks({ limit: 5, prefix: 'backup-' })).nextCursor).toBeNull();
        expect((await store.listTasks({ limit: 10, prefix: 'B' })).tasks.map((task) => task.id)).toEqual(['Backup-x']);
        expect((await store.listTasks({ limit: 10, prefix: 'back' })).tasks.map((task) => task.id)).toEqual(
          ['back', 'backup-', 'backup-Z', 'backup-a.1', 'backup-db', 'backup-home', 'backup_z', 'backups'],
        );
        expect((await store.listTasks({ limit: 10, prefix: 'backup-home' })).tasks.map((task) => task.id)).toEqual(['backup-home']);
        expect(await store.listTasks({ limit: 10, prefix: 'backup-homes' })).toEqual({ tasks: [], nextCursor: null });
        expect(await store.listTasks({ limit: 10, prefix: 'zzz' })).toEqual({ tasks: [], nextCursor: null });
      });

      it('filters by status within the prefix, paging within both', async () => {
        const tasks = await insertAll();
        for (const id of ['backup-db', 'backup-', 'backups', 'deploy-1']) {
          await store.saveTask({ task: next(tasks.get(id)!, { status: 'Stopped' }), expectedVersion: 1, keepRuns: 10 });
        }
        const first = await store.listTasks({ limit: 1, prefix: 'backup-', status: 'Stopped' });
        expect(first.tasks.map((task) => task.id)).toEqual(['backup-']);
        const rest = await store.listTasks({ limit: 1, prefix: 'backup-', status: 'Stopped', cursor: first.nextCursor! });
        expect(rest.tasks.map((task) => task.id)).toEqual(['backup-db']);
        expect(rest.tasks[0]!.state.status).toBe('Stopped');
        // One more was read to know: there is none after it.
        expect(rest.nextCursor).toBeNull();
        expect((await store.listTasks({ limit: 10, prefix: 'backup-', status: 'ToBeExecuted' })).tasks.map((task) => task.id)).toEqual(
          ['backup-Z', 'backup-a.1', 'backup-home'],
        );
      });

      it('continues after the task a cursor points at was deleted', async () => {
        await insertAll();
        const first = await store.listTasks({ limit: 2, prefix: 'backup-' });
        expect(await store.deleteTask('backup-Z')).toBe(true);
        const rest = await store.listTasks({ limit: 10, prefix: 'backup-', cursor: first.nextCursor! });
        expect(rest.tasks.map((task) => task.id)).toEqual(matching.slice(2));
      });

      it('refuses a cursor that was not given out for the prefix, and an empty prefix (invalid_request)', async () => {
        await insertAll();
        const plain = await store.listTasks({ limit: 2 });
        await expectCode(store.listTasks({ limit: 2, prefix: 'backup-', cursor: plain.nextCursor! }), 'invalid_request');
        await expectCode(store.listTasks({ limit: 2, prefix: 'backup-', cursor: 'deploy-1' }), 'invalid_request');
        await expectCode(store.listTasks({ limit: 2, prefix: '' }), 'invalid_request');
      });
    });

    describe('runs across tasks', () => {
      const output = (text: string, totalBytes = Buffer.byteLength(text)): CapturedOutput => ({
        text, totalBytes, droppedBytes: totalBytes - Buffer.byteLength(text), droppedAt: totalBytes > Buffer.byteLength(text) ? 2 : 0,
      });
      const ended = (run: number, scheduledAt: number, outcome: Run['outcome'], extra: Partial<Run> = {}): Run => ({
        ...runningRun(run, scheduledAt, scheduledAt + 5), finishedAt: scheduledAt + 50, outcome, exitCode: outcome === 'succeeded' ? 0 : 1, ...extra,
      });
      /**
       * Three tasks whose runs interleave in time, with fires at the same instant in several
       * tasks (at +3m: gamma 1, beta 3, and alpha's run 2 and its retry, run 4) and in two (+1m).
       */
      const histories: Record<string, Run[]> = {
        alpha: [
          ended(1, t0 + minute, 'succeeded', { stdout: output('a1\n') }),
          ended(2, t0 + 3 * minute, 'failed', { stderr: output('no\n') }),
          { ...runningRun(3, t0 + 5 * minute, 0), startedAt: null, waiting: true },
          ended(4, t0 + 3 * minute, 'failed', { attempt: 2, limit: 'memory', waitedMs: 12 }),
        ],
        beta: [
          skippedRun(1, t0 + minute),
          ended(2, t0 + 2 * minute, 'succeeded'),
          ended(3, t0 + 3 * minute, 'succeeded', { stdout: output('he..il', 5000) }),
        ],
        gamma: [
          ended(1, t0 + 3 * minute, 'timed_out', { signal: 'SIGKILL', exitCode: null, error: 'took longer than 1m' }),
          ended(2, t0 + 4 * minute, 'failed'),
        ],
      };
      /** Every run, newest fire first, then by task id and run number, both descending. */
      const newestFirst: Array<[string, number]> = [
        ['alpha', 3], ['gamma', 2], ['gamma', 1], ['beta', 3], ['alpha', 4], ['alpha', 2], ['beta', 2], ['beta', 1], ['alpha', 1],
      ];

      /** The run as listed across tasks: with its task, without the text of its output. */
      function summary([taskId, number]: [string, number]) {
        const { stdout, stderr, ...rest } = histories[taskId]!.find((run) => run.run === number)!;
        return { ...rest, taskId, stdout: { ...stdout, text: undefined }, stderr: { ...stderr, text: undefined } };
      }
      const ids = (runs: Array<{ taskId: string; run: number }>) => runs.map((run) => [run.taskId, run.run]);

      beforeEach(async () => {
        for (const [id, runs] of Object.entries(histories)) {
          await store.importTask(makeTask(id, { type: 'cron', state: { status: 'Stopped' }, lastRun: runs.length }), runs);
        }
      });

      it('pages through the runs of every task, newest fire first, without the text of their output', async () => {
        const seen: RunSummary[] = [];
        let page = await store.listAllRunsPage({ limit: 4 });
        const cursors: Array<string | null> = [];
        for (;;) {
          for (const run of page.runs) {
            expect(run).not.toHaveProperty('stdout.text');
            expect(run).not.toHaveProperty('stderr.text');
          }
          seen.push(...page.runs);
          cursors.push(page.nextCursor);
          if (page.nextCursor === null) break;
          page = await store.listAllRunsPage({ limit: 4, cursor: page.nextCursor });
        }
        expect(cursors).toHaveLength(3);
        expect(ids(seen)).toEqual(newestFirst);
        expect(seen).toEqual(newestFirst.map((key) => expect.objectContaining(JSON.parse(JSON.stringify(summary(key))))));
        expect(seen.find((run) => run.taskId === 'beta' && run.run === 3)!.stdout).toEqual({ totalBytes: 5000, droppedBytes: 4994, droppedAt: 2 });
        expect(seen.find((run) => run.taskId === 'alpha' && run.run === 3)).toMatchObject({ waiting: true, startedAt: null, outcome: 'running' });
        expect(await store.listAllRunsPage({ limit: 9 })).toMatchObject({ nextCursor: null });
        expect((await store.listAllRunsPage({ limit: 8 })).nextCursor).not.toBeNull();
      });

      it('filters by outcome, paging within it', async () => {
        const first = await store.listAllRunsPage({ limit: 2, outcome: 'failed' });
        expect(ids(first.runs)).toEqual([['gamma', 2], ['alpha', 4]]);
        const rest = await store.listAllRunsPage({ limit: 2, outcome: 'failed', cursor: first.nextCursor! });
        expect(rest).toEqual({ runs: [expect.objectContaining({ taskId: 'alpha', run: 2, outcome: 'failed' })], nextCursor: null });
        expect(ids((await store.listAllRunsPage({ limit: 10, outcome: 'succeeded' })).runs)).toEqual([['beta', 3], ['beta', 2], ['alpha', 1]]);
        expect(ids((await store.listAllRunsPage({ limit: 10, outcome: 'running' })).runs)).toEqual([['alpha', 3]]);
        expect(await store.listAllRunsPage({ limit: 10, outcome: 'killed' })).toEqual({ runs: [], nextCursor: null });
      });

      it('keeps the runs whose fire is at or after `since` and before `until`, with an outcome and a cursor too', async () => {
        const window = { since: t0 + 2 * minute, until: t0 + 4 * minute };
        const first = await store.listAllRunsPage({ limit: 3, ...window });
        expect(ids(first.runs)).toEqual([['gamma', 1], ['beta', 3], ['alpha', 4]]);
        const rest = await store.listAllRunsPage({ limit: 3, ...window, cursor: first.nextCursor! });
        expect(ids(rest.runs)).toEqual([['alpha', 2], ['beta', 2]]);
        expect(rest.nextCursor).toBeNull();
        expect(ids((await store.listAllRunsPage({ limit: 10, since: t0 + 4 * minute })).runs)).toEqual([['alpha', 3], ['gamma', 2]]);
        expect(ids((await store.listAllRunsPage({ limit: 10, until: t0 + 2 * minute })).runs)).toEqual([['beta', 1], ['alpha', 1]]);
        expect(ids((await store.listAllRunsPage({ limit: 10, ...window, outcome: 'failed' })).runs)).toEqual([['alpha', 4], ['alpha', 2]]);
        expect(await store.listAllRunsPage({ limit: 10, since: t0 + 3 * minute, until: t0 + 3 * minute })).toEqual({ runs: [], nextCursor: null });
        // A cursor from before the window was narrowed: the window still bounds the page.
        const early = await store.listAllRunsPage({ limit: 1 });
        expect(ids((await store.listAllRunsPage({ limit: 10, until: t0 + 2 * minute, cursor: early.nextCursor! })).runs)).toEqual([['beta', 1], ['alpha', 1]]);
      });

      it('forgets the runs of a deleted task, and refuses a cursor it did not give out (invalid_request)', async () => {
        expect(await store.deleteTask('beta')).toBe(true);
        expect(ids((await store.listAllRunsPage({ limit: 10 })).runs)).toEqual(newestFirst.filter(([id]) => id !== 'beta'));
        for (const cursor of ['', 'garbage', '12', '1.2', `1.${2 ** 31}.alpha`, '-1.2.alpha']) {
          await expectCode(store.listAllRunsPage({ limit: 2, cursor }), 'invalid_request');
        }
      });

      it('lists the last N runs of each task asked for, oldest first, in one call', async () => {
        const outcomes = (entries: Array<{ run: number; outcome: string }> | undefined) => entries?.map((entry) => `${entry.run}:${entry.outcome}`);
        const recent = await store.listRecentOutcomes(['gamma', 'nobody', 'alpha', 'beta'], 2);
        expect([...recent.keys()].sort()).toEqual(['alpha', 'beta', 'gamma']);
        expect(outcomes(recent.get('alpha'))).toEqual(['3:running', '4:failed']);
        expect(outcomes(recent.get('beta'))).toEqual(['2:succeeded', '3:succeeded']);
        expect(outcomes(recent.get('gamma'))).toEqual(['1:timed_out', '2:failed']);
        const all = await store.listRecentOutcomes(['alpha'], 10);
        expect(outcomes(all.get('alpha'))).toEqual(['1:succeeded', '2:failed', '3:running', '4:failed']);
        expect(outcomes((await store.listRecentOutcomes(['beta'], 1)).get('beta'))).toEqual(['3:succeeded']);
        expect((await store.listRecentOutcomes([], 5)).size).toBe(0);
        expect((await store.listRecentOutcomes(['alpha'], 0)).size).toBe(0);
      });

      it('counts only the runs retained: the recent outcomes follow the pruning', async () => {
        const task = await runTimes(await insertIn(makeTask('pruned', { type: 'cron' })), 6, 3);
        expect(task.lastRun).toBe(6);
        const recent = await store.listRecentOutcomes(['pruned'], 10);
        expect(recent.get('pruned')?.map((entry) => entry.run)).toEqual([4, 5, 6]);
      });
    });

    describe('the audit log', () => {
      const entry = (n: number) => ({
        at: t0 + n,
        token: n % 2 === 0 ? 'ci' : null,
        role: n % 2 === 0 ? 'operator' : null,
        method: 'POST',
        path: `/api/tasks/t${n}/run`,
        operation: 'runTaskNow',
        taskId: `t${n}`,
        status: 200,
        remote: '127.0.0.1',
      });

      it('lists entries newest first, a page at a time, and keeps the newest `keep`', async () => {
        expect(await store.listAudit({ limit: 10 })).toEqual([]);
        await store.appendAudit([entry(1), entry(2), entry(3)], 100);
        await store.appendAudit([entry(4)], 100);
        const newest = await store.listAudit({ limit: 2 });
        expect(newest.map(({ id: _id, ...rest }) => rest)).toEqual([entry(4), entry(3)]);
        const older = await store.listAudit({ limit: 10, before: newest[1]!.id });
        expect(older.map((row) => row.taskId)).toEqual(['t2', 't1']);
        await store.appendAudit([entry(5), entry(6)], 3);
        expect((await store.listAudit({ limit: 10 })).map((row) => row.taskId)).toEqual(['t6', 't5', 't4']);
      });
    });

    describe('tokens', () => {
      const token = (name: string, digit: string) => ({ name, role: 'viewer', sha256: digit.repeat(64), createdAt: t0 });

      it('keeps made tokens by name, refuses a name or a hash taken, and forgets one revoked', async () => {
        expect(await store.listTokens()).toEqual([]);
        await store.insertToken(token('zeta', 'a'));
        await store.insertToken({ ...token('alpha', 'b'), role: 'operator' });
        await expect(store.insertToken(token('zeta', 'c'))).rejects.toMatchObject({ code: 'already_exists' });
        await expect(store.insertToken(token('other', 'a'))).rejects.toMatchObject({ code: 'already_exists' });
        expect(await store.listTokens()).toEqual([{ ...token('alpha', 'b'), role: 'operator' }, token('zeta', 'a')]);
        expect(await store.deleteToken('zeta')).toBe(true);
        expect(await store.deleteToken('zeta')).toBe(false);
        expect(await store.listTokens()).toEqual([{ ...token('alpha', 'b'), role: 'operator' }]);
      });
    });

    describe('sessions', () => {
      const session = (digit: string, expiresAt: number) => ({
        sha256: digit.repeat(64), name: 'ci', role: 'operator', tokenCheck: 'c'.repeat(64), createdAt: t0, expiresAt,
      });

      it('finds a session by the hash of its id, expired or not, and forgets one ended', async () => {
        expect(await store.findSession('a'.repeat(64))).toBeUndefined();
        await store.insertSession(session('a', t0 + 60_000));
        await store.insertSession({ ...session('b', t0 + 1), name: 'dashboard', role: 'viewer' });
        expect(await store.findSession('a'.repeat(64))).toEqual(session('a', t0 + 60_000));
        expect(await store.findSession('b'.repeat(64))).toEqual({ ...session('b', t0 + 1), name: 'dashboard', role: 'viewer' });
        expect(await store.deleteSession('a'.repeat(64))).toBe(true);
        expect(await store.deleteSession('a'.repeat(64))).toBe(false);
        expect(await store.findSession('a'.repeat(64))).toBeUndefined();
      });

      it('deletes expired sessions, the earliest first, at most `limit` at a time, and keeps the live ones', async () => {
        for (const [digit, offset] of [['1', 3], ['2', 1], ['3', 2], ['4', 10], ['5', 20]] as const) await store.insertSession(session(digit, t0 + offset));
        expect(await store.deleteExpiredSessions(t0 + 10, 2)).toBe(2);
        expect(await store.findSession('2'.repeat(64))).toBeUndefined();
        expect(await store.findSession('3'.repeat(64))).toBeUndefined();
        expect(await store.findSession('1'.repeat(64))).toBeDefined();
        // Expired at its very instant: a session is good strictly before expiresAt.
        expect(await store.deleteExpiredSessions(t0 + 10, 100)).toBe(2);
        expect(await store.deleteExpiredSessions(t0 + 10, 100)).toBe(0);
        expect(await store.findSession('5'.repeat(64))).toEqual(session('5', t0 + 20));
      });
    });

    describe('deleteTask', () => {
      it('removes the task and its runs, and leaves the others alone', async () => {
        const doomed = await insertIn(makeTask('doomed', { type: 'cron' }));
        const other = await insertIn(makeTask('other', { type: 'cron' }));
        await runTimes(doomed, 2, 10);
        const otherAfter = await runTimes(other, 1, 10);
        expect(await store.deleteTask('doomed')).toBe(true);
        expect(await store.getTask('doomed')).toBeUndefined();
        expect(await store.listRuns('doomed')).toEqual([]);
        expect((await store.listTasks({ limit: 10 })).tasks).toEqual([otherAfter]);
        expect(await store.listRuns('other')).toHaveLength(1);
      });

      it('lets the id be used again, with no runs left over', async () => {
        const task = await insertIn(makeTask('again', { type: 'cron' }));
        await runTimes(task, 2, 10);
        await store.deleteTask('again');
        const reborn = makeTask('again', { script: 'echo reborn' });
        await store.insertTask(reborn);
        expect(await store.getTask('again')).toEqual(reborn);
        expect(await store.listRuns('again')).toEqual([]);
      });

      it('answers false for an unknown id, and for a second delete', async () => {
        await insertIn(makeTask('once'));
        expect(await store.deleteTask('never')).toBe(false);
        expect(await store.deleteTask('once')).toBe(true);
        expect(await store.deleteTask('once')).toBe(false);
      });

      it('makes a deleted task no longer due', async () => {
        await insertIn(makeTask('due', { state: { status: 'ToBeExecuted', nextRunAt: t0 } }));
        await store.deleteTask('due');
        expect(await store.earliestDueAt()).toBeUndefined();
        expect(await store.listDueTasks({ now: t0 + 10 * minute, limit: 10 })).toEqual([]);
      });
    });

    describe('due tasks', () => {
      /** One task of every kind, due at different times. */
      async function insertMixed(): Promise<Record<string, Task>> {
        const tasks = {
          pending3: makeTask('pending3', { state: { status: 'ToBeExecuted', nextRunAt: t0 + 3 * minute } }),
          executed: makeTask('executed', { state: { status: 'Executed' } }),
          waiting1: makeTask('waiting1', { type: 'cron', state: { status: 'WaitForNextExecution', nextRunAt: t0 + minute } }),
          stopped: makeTask('stopped', { state: { status: 'Stopped' } }),
          executingCron2: makeTask('executingCron2', { type: 'cron', lastRun: 1, state: { status: 'Executing', run: 1, nextRunAt: t0 + 2 * minute, stopRequested: false } }),
          executingDelay: makeTask('executingDelay', { lastRun: 1, state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false } }),
          pending5: makeTask('pending5', { state: { status: 'ToBeExecuted', nextRunAt: t0 + 5 * minute } }),
        };
        for (const task of Object.values(tasks)) await store.insertTask(task);
        return tasks;
      }

      it('counts the tasks due before a time and not fired yet (executing ones included), up to a cap', async () => {
        await insertMixed();
        expect(await store.countOverdue(t0 + minute, 100)).toBe(0);
        expect(await store.countOverdue(t0 + 2 * minute + 1, 100)).toBe(2);
        expect(await store.countOverdue(t0 + 2 * minute + 1, 1)).toBe(1);
        expect(await store.countOverdue(Number.MAX_SAFE_INTEGER, 100)).toBe(4);
      });

      it('counts the tasks of each type in each status, through inserts, status changes, imports and deletes', async () => {
        const tasks = await insertMixed();
        const counts = async () => Object.fromEntries((await store.countTasks()).map(({ type, status, count }) => [`${type} ${status}`, count]));
        expect(await counts()).toEqual({
          'delay ToBeExecuted': 2,
          'delay Executed': 1,
          'delay Stopped': 1,
          'delay Executing': 1,
          'cron WaitForNextExecution': 1,
          'cron Executing': 1,
        });
        const pending3 = tasks.pending3!;
        await store.saveTask({ task: { ...pending3, version: 2, state: { status: 'Stopped' } }, expectedVersion: 1, keepRuns: 10 });
        // A change that keeps the status keeps the counts.
        await store.saveTask({ task: { ...pending3, version: 3, state: { status: 'Stopped' } }, expectedVersion: 2, keepRuns: 10 });
        await store.deleteTask('executed');
        await store.importTask(makeTask('imported', { type: 'at', state: { status: 'Executed' } }), []);
        expect(await counts()).toEqual({
          'delay ToBeExecuted': 1,
          'delay Stopped': 2,
          'delay Executing': 1,
          'cron WaitForNextExecution': 1,
          'cron Executing': 1,
          'at Executed': 1,
        });
      });

      it('has no earliest due time on an empty store, or one with only final tasks', async () => {
        expect(await store.earliestDueAt()).toBeUndefined();
        await store.insertTask(makeTask('done', { state: { status: 'Executed' } }));
        await store.insertTask(makeTask('stopped', { state: { status: 'Stopped' } }));
        await store.insertTask(makeTask('running', { lastRun: 1, state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false } }));
        expect(await store.earliestDueAt()).toBeUndefined();
        expect(await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 100 })).toEqual([]);
      });

      it('gives the earliest due time over every waiting task', async () => {
        await insertMixed();
        expect(await store.earliestDueAt()).toBe(t0 + minute);
      });

      it('lists only tasks due at or before now, earliest first', async () => {
        const tasks = await insertMixed();
        expect(await store.listDueTasks({ now: t0 + minute - 1, limit: 10 })).toEqual([]);
        expect(await store.listDueTasks({ now: t0 + minute, limit: 10 })).toEqual([tasks.waiting1]);
        expect(await store.listDueTasks({ now: t0 + 3 * minute, limit: 10 })).toEqual([
          tasks.waiting1,
          tasks.executingCron2,
          tasks.pending3,
        ]);
        const all = await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 10 });
        expect(all.map((task) => task.id)).toEqual(['waiting1', 'executingCron2', 'pending3', 'pending5']);
      });

      it('lists tasks due at the same instant in the order they were submitted, even after some were saved', async () => {
        const ids = ['tie-a', 'tie-b', 'tie-c', 'tie-d'];
        const due = { status: 'WaitForNextExecution', nextRunAt: t0 + minute } as const;
        for (const id of ids) await store.insertTask(makeTask(id, { type: 'cron', state: due }));
        // Moved to a later time and back: in PostgreSQL each move writes a new row version with a
        // new index entry, after the others; the order must not follow that.
        for (const id of ['tie-c', 'tie-a']) {
          const task = (await store.getTask(id))!;
          const later = next(task, { ...due, nextRunAt: t0 + 2 * minute });
          await store.saveTask({ task: later, expectedVersion: task.version, keepRuns: 10 });
          await store.saveTask({ task: next(later, due), expectedVersion: later.version, keepRuns: 10 });
        }
        expect((await store.listDueTasks({ now: t0 + minute, limit: 10 })).map((task) => task.id)).toEqual(ids);
        expect((await store.listDueTasks({ now: t0 + minute, limit: 2 })).map((task) => task.id)).toEqual(['tie-a', 'tie-b']);
      });

      it('respects the limit, keeping the earliest', async () => {
        await insertMixed();
        const due = await store.listDueTasks({ now: Number.MAX_SAFE_INTEGER, limit: 2 });
        expect(due.map((task) => task.id)).toEqual(['waiting1', 'executingCron2']);
      });

      it('follows saves: a task that ends is no longer due, and one that waits again is due at its new time', async () => {
        const tasks = await insertMixed();
        await store.saveTask({ task: next(tasks.waiting1!, { status: 'Stopped' }), expectedVersion: 1, keepRuns: 10 });
        expect(await store.earliestDueAt()).toBe(t0 + 2 * minute);
        const rescheduled = next(tasks.executingCron2!, { status: 'WaitForNextExecution', nextRunAt: t0 + 4 * minute });
        await store.saveTask({ task: rescheduled, expectedVersion: 1, keepRuns: 10 });
        expect(await store.earliestDueAt()).toBe(t0 + 3 * minute);
        const due = await store.listDueTasks({ now: t0 + 4 * minute, limit: 10 });
        expect(due).toEqual([tasks.pending3, rescheduled]);
      });
    });

    describe('outputBytes and boundOutput', () => {
      /** Output of `text`, all of it kept. */
      const kept = (text: string): CapturedOutput => ({ text, totalBytes: Buffer.byteLength(text), droppedBytes: 0, droppedAt: 0 });

      /** Records the next run of `task` as started, with no output unless `stdout` is given (a store keeps what it is given). */
      async function startRun(task: Task, options: { keepRuns?: number; stdout?: CapturedOutput } = {}): Promise<Task> {
        const run = task.lastRun + 1;
        const scheduledAt = t0 + run * minute;
        const executing = next(task, { status: 'Executing', run, nextRunAt: null, stopRequested: false }, { lastRun: run });
        const record = { ...runningRun(run, scheduledAt, scheduledAt), stdout: options.stdout ?? noOutput };
        await store.saveTask({ task: executing, expectedVersion: task.version, runChange: { kind: 'insert', run: record }, keepRuns: options.keepRuns ?? 10 });
        return executing;
      }

      /** Records the end of the run `task` is executing, at `finishedAt`, with this output. */
      async function finishRun(task: Task, finishedAt: number, stdout: CapturedOutput, stderr: CapturedOutput = noOutput, keepRuns = 10): Promise<Task> {
        if (task.state.status !== 'Executing') throw new Error(`${task.id} is not executing`);
        const waiting = next(task, { status: 'WaitForNextExecution', nextRunAt: finishedAt + minute });
        const result = succeeded(finishedAt, { stdout, stderr });
        await store.saveTask({ task: waiting, expectedVersion: task.version, runChange: { kind: 'finish', run: task.state.run, result }, keepRuns });
        return waiting;
      }

      /** One whole run of `task`: started, then finished at `finishedAt` with this output. */
      async function runOnce(task: Task, finishedAt: number, stdout: CapturedOutput, stderr: CapturedOutput = noOutput, keepRuns = 10): Promise<Task> {
        return finishRun(await startRun(task, { keepRuns }), finishedAt, stdout, stderr, keepRuns);
      }

      it('counts nothing on an empty store, nor for runs that printed nothing', async () => {
        expect(await store.outputBytes()).toBe(0);
        const task = await insertIn(makeTask('quiet', { type: 'cron' }));
        const executing = await startRun(task);
        expect(await store.outputBytes()).toBe(0);
        await finishRun(executing, t0 + 2 * minute, noOutput);
        expect(await store.outputBytes()).toBe(0);
      });

      it('sums the kept bytes (UTF-8) of both streams of every run of every task, not the bytes written', async () => {
        let a = await insertIn(makeTask('a', { type: 'cron' }));
        const b = await insertIn(makeTask('b', { type: 'cron' }));
        a = await runOnce(a, t0 + 2 * minute, kept('hello\n'), kept('é✓'));
        expect(await store.outputBytes()).toBe(6 + 5);
        // Head and tail kept of 10 000 bytes: the 8 kept bytes count, not the 10 000.
        a = await runOnce(a, t0 + 3 * minute, { text: 'headtail', totalBytes: 10_000, droppedBytes: 9_992, droppedAt: 4 });
        expect(await store.outputBytes()).toBe(11 + 8);
        await runOnce(b, t0 + 4 * minute, kept('日本語'));
        expect(await store.outputBytes()).toBe(19 + 9);
      });

      it('follows a run inserted with output, and its finish replacing that output', async () => {
        const task = await insertIn(makeTask('live', { type: 'cron' }));
        const executing = await startRun(task, { stdout: kept('live\n') });
        expect(await store.outputBytes()).toBe(5);
        await finishRun(executing, t0 + 2 * minute, kept('live\nmore\n'), kept('!'));
        expect(await store.outputBytes()).toBe(11);
      });

      it('follows the pruning of old runs by keepRuns', async () => {
        let task = await insertIn(makeTask('pruned', { type: 'cron' }));
        for (let run = 1; run <= 5; run++) {
          task = await runOnce(task, t0 + (run + 1) * minute, kept(`run ${run}\n`), noOutput, 2);
          expect((await store.listRuns('pruned')).map((r) => r.run)).toEqual(run === 1 ? [1] : [run - 1, run]);
          expect(await store.outputBytes(), `after run ${run}`).toBe(Math.min(run, 2) * 6);
        }
      });

      it('follows the deletion of a task with its runs', async () => {
        const a = await insertIn(makeTask('a', { type: 'cron' }));
        const b = await insertIn(makeTask('b', { type: 'cron' }));
        await runOnce(await runOnce(a, t0 + 2 * minute, kept('aaaa')), t0 + 3 * minute, kept('aa'), kept('a'));
        await runOnce(b, t0 + 4 * minute, kept('bbbbbbbbbb'));
        expect(await store.outputBytes()).toBe(17);
        await store.deleteTask('a');
        expect(await store.outputBytes()).toBe(10);
        await store.deleteTask('b');
        expect(await store.outputBytes()).toBe(0);
      });

      /** Three tasks with one run each; they finish in the order y, z, x, not the order inserted. */
      async function threeRuns(): Promise<void> {
        const x = await insertIn(makeTask('x', { type: 'cron' }));
        const y = await insertIn(makeTask('y', { type: 'cron' }));
        const z = await insertIn(makeTask('z', { type: 'cron' }));
        const [xRunning, yRunning, zRunning] = [await startRun(x), await startRun(y), await startRun(z)];
        await finishRun(yRunning, t0 + 5 * minute, kept('y'.repeat(15)), kept('Y'.repeat(5)));
        await finishRun(zRunning, t0 + 6 * minute, kept('z'.repeat(30)));
        await finishRun(xRunning, t0 + 7 * minute, kept('x'.repeat(10)));
      }

      it('boundOutput drops the output of the runs that finished first until the total fits, and says how many', async () => {
        await threeRuns();
        expect(await store.outputBytes()).toBe(60);
        // Dropping y (the oldest, 20 bytes) leaves 40: more than 15, so z goes too.
        expect(await store.boundOutput(15)).toBe(2);
        expect(await store.outputBytes()).toBe(10);
        expect((await store.listRuns('y'))[0]).toMatchObject({ stdout: droppedOutput(15), stderr: droppedOutput(5) });
        expect((await store.listRuns('z'))[0]).toMatchObject({ stdout: droppedOutput(30), stderr: droppedOutput(0) });
        expect((await store.listRuns('x'))[0]).toMatchObject({ stdout: kept('x'.repeat(10)), stderr: noOutput });
        // Then the newest, when the bound leaves no room.
        expect(await store.boundOutput(0)).toBe(1);
        expect(await store.outputBytes()).toBe(0);
        expect((await store.listRuns('x'))[0]).toMatchObject({ stdout: droppedOutput(10) });
        // Runs whose output was dropped count nothing when they go.
        await store.deleteTask('y');
        expect(await store.outputBytes()).toBe(0);
      });

      it('boundOutput stops as soon as the total fits', async () => {
        await threeRuns();
        expect(await store.boundOutput(40)).toBe(1);
        expect(await store.outputBytes()).toBe(40);
        expect((await store.listRuns('z'))[0]!.stdout).toEqual(kept('z'.repeat(30)));
      });

      it('boundOutput keeps the run record, with every byte written counted as dropped', async () => {
        let task = await insertIn(makeTask('rec', { type: 'cron' }));
        const headAndTail: CapturedOutput = { text: 'startend', totalBytes: 5_000, droppedBytes: 4_992, droppedAt: 5 };
        task = await runOnce(task, t0 + 2 * minute, headAndTail, kept('warning\n'));
        await runOnce(task, t0 + 3 * minute, kept('newer'));
        const [before] = await store.listRuns('rec');
        expect(await store.boundOutput(5)).toBe(1);
        const [after, newer] = await store.listRuns('rec');
        expect(after).toEqual({
          ...before,
          stdout: { text: '', totalBytes: 5_000, droppedBytes: 5_000, droppedAt: 0 },
          stderr: { text: '', totalBytes: 8, droppedBytes: 8, droppedAt: 0 },
        });
        expect(newer!.stdout).toEqual(kept('newer'));
        expect(await store.getRun('rec', 1)).toEqual(after);
      });

      it('boundOutput never touches a run still executing, nor counts runs that had no output', async () => {
        let busy = await insertIn(makeTask('busy', { type: 'cron' }));
        const done = await insertIn(makeTask('done', { type: 'cron' }));
        busy = await startRun(busy, { stdout: kept('partial\n') });
        const [running] = await store.listRuns('busy');
        // A tick skipped during the run: finished, and the oldest, but with nothing to drop.
        const afterSkip = next(busy, busy.state, { lastRun: 2 });
        await store.saveTask({ task: afterSkip, expectedVersion: busy.version, runChange: { kind: 'insert', run: skippedRun(2, t0) }, keepRuns: 10 });
        await runOnce(done, t0 + 5 * minute, kept('0123456789'));
        expect(await store.outputBytes()).toBe(18);

        expect(await store.boundOutput(0)).toBe(1);
        expect(await store.outputBytes()).toBe(8);
        expect((await store.listRuns('busy'))[0]).toEqual(running);
        expect((await store.listRuns('done'))[0]!.stdout).toEqual(droppedOutput(10));
        // Nothing else can go while it executes.
        expect(await store.boundOutput(0)).toBe(0);
        expect(await store.outputBytes()).toBe(8);

        // Once it has finished, its output can be dropped like any other.
        await finishRun(afterSkip, t0 + 6 * minute, kept('partial\ndone\n'));
        expect(await store.boundOutput(0)).toBe(1);
        expect(await store.outputBytes()).toBe(0);
        expect((await store.listRuns('busy'))[0]!.stdout).toEqual(droppedOutput(13));
      });

      it('boundOutput within the bound changes nothing and answers 0', async () => {
        await threeRuns();
        const before = await Promise.all(['x', 'y', 'z'].map((id) => store.listRuns(id)));
        expect(await store.boundOutput(1_000_000)).toBe(0);
        expect(await store.boundOutput(60)).toBe(0);
        expect(await store.outputBytes()).toBe(60);
        expect(await Promise.all(['x', 'y', 'z'].map((id) => store.listRuns(id)))).toEqual(before);
      });
    });

    describe('listExecutingTasks', () => {
      it('lists exactly the tasks recorded as Executing', async () => {
        expect(await store.listExecutingTasks()).toEqual([]);
        const delay = makeTask('delay', { lastRun: 1, state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false } });
        const cron = makeTask('cron', { type: 'cron', lastRun: 4, state: { status: 'Executing', run: 3, nextRunAt: null, stopRequested: true } });
        for (const task of [
          makeTask('pending'),
          delay,
          makeTask('waiting', { type: 'cron', state: { status: 'WaitForNextExecution', nextRunAt: t0 } }),
          cron,
          makeTask('executed', { state: { status: 'Executed' } }),
          makeTask('stopped', { state: { status: 'Stopped' } }),
        ]) {
          await store.insertTask(task);
        }
        const executing = await store.listExecutingTasks();
        expect([...executing].sort((a, b) => a.id.localeCompare(b.id))).toEqual([cron, delay]);
      });

      it('drops a task once its run is recorded as finished', async () => {
        const task = await insertIn(makeTask('t'));
        const executing = next(task, { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false }, { lastRun: 1 });
        await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: runningRun(1, t0 + minute, t0 + minute) }, keepRuns: 10 });
        expect(await store.listExecutingTasks()).toEqual([executing]);
        await store.saveTask({ task: next(executing, { status: 'Executed' }), expectedVersion: 2, runChange: { kind: 'finish', run: 1, result: succeeded(t0 + 2 * minute) }, keepRuns: 10 });
        expect(await store.listExecutingTasks()).toEqual([]);
      });
    });

    it('answers ping while open', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}
