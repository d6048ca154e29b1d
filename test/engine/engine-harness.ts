/**
 * The engine under test: driven by a fake clock and a fake runner over a real SQLite store.
 * Nothing sleeps: time moves only when a test advances the clock, every run ends only when
 * a test ends it, and after each step the test waits (with a deadline) for a condition that
 * proves the engine has done its work.
 *
 * The engine's timer callback is async, so `clock.advance()` only starts a firing pass. The
 * store is wrapped in a probe that logs every call; a pass begins with listDueTasks and ends
 * when the engine has re-read earliestDueAt, so "the pass after this advance is over" is a
 * positive condition the tests can wait for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { Run, Task } from '../../src/core/task.js';
import type { RunResult } from '../../src/core/transition.js';
import { ChangeFeed } from '../../src/engine/change-feed.js';
import { Engine, type EngineLog } from '../../src/engine/engine.js';
import { FaultLog } from '../../src/engine/fault-log.js';
import type { TaskActivity } from '../../src/engine/task-activity.js';
import { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import type { TaskStore } from '../../src/store/task-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeRunner, type FakeRun } from '../support/fake-runner.js';
import { until } from '../support/wait.js';

export const T0 = Date.parse('2026-11-25T10:00:00.000Z');
export const SEC = 1000;
export const MIN = 60 * SEC;

/** A log that keeps what it is told, so tests can assert that nothing went wrong. */
export class RecordingLog implements EngineLog {
  readonly entries: Array<{ level: 'debug' | 'info' | 'warn' | 'error'; details: object; message: string }> = [];
  debug(details: object, message: string): void {
    this.entries.push({ level: 'debug', details, message });
  }
  info(details: object, message: string): void {
    this.entries.push({ level: 'info', details, message });
  }
  warn(details: object, message: string): void {
    this.entries.push({ level: 'warn', details, message });
  }
  error(details: object, message: string): void {
    this.entries.push({ level: 'error', details, message });
  }
  get errors() {
    return this.entries.filter((entry) => entry.level === 'error');
  }
  /** Errors, and warnings other than skipped ticks (a failed warm-up is logged as a warning). */
  get problems() {
    return this.entries.filter(
      (entry) => entry.level === 'error' || (entry.level === 'warn' && !entry.message.startsWith('tick skipped')),
    );
  }
}

/** A store wrapped so that every call is logged: `name` when called, `name:done` when settled. */
function probe(inner: TaskStore): { store: TaskStore; calls: string[] } {
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      return (...args: unknown[]) => {
        calls.push(key);
        const out = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (out instanceof Promise) return out.finally(() => calls.push(`${key}:done`));
        calls.push(`${key}:done`);
        return out;
      };
    },
  });
  return { store, calls };
}

/** An engine and everything around it. */
export interface Harness {
  clock: FakeClock;
  inner: SqliteTaskStore;
  store: TaskStore;
  calls: string[];
  runner: FakeRunner;
  feed: ChangeFeed;
  log: RecordingLog;
  engine: Engine;
}

/** Options of a harness. */
export interface HarnessOptions {
  path?: string;
  keepRuns?: number;
  clock?: FakeClock;
  runner?: FakeRunner;
  shutdownAtEnd?: boolean;
  warmupMs?: number;
  /** How long ahead of its time a task is fired (its script then released on the dot); none if absent. */
  fireAheadMs?: number;
  /** Told of the engine's activity; none if absent. */
  activity?: TaskActivity;
  /** The bound on all kept output; none if absent. */
  maxOutputBytes?: number;
  /** Wraps the store the engine uses (e.g. to make its writes fail); the test still reads the real one. */
  wrapStore?: (store: TaskStore) => TaskStore;
  /** The bound on output held for run ends the store refused. */
  maxHeldOutputBytes?: number;
  /** Runs at once (the engine's slots; no queue has a limit of its own). Unbounded if absent. */
  maxRuns?: number;
}

/**
 * Registers the cleanup of every harness a test makes; at the end of each test, its logs
 * must hold no errors (with 'problems': and no warnings but skipped ticks).
 */
export function useEngineHarness(check: 'errors' | 'problems' = 'errors') {
  const cleanups: Array<() => Promise<void> | void> = [];
  const checkedLogs: RecordingLog[] = [];

  afterEach(async () => {
    const logs = checkedLogs.splice(0);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const log of logs) expect(log[check]).toEqual([]);
  });

  return {
    /** Stops checking `log` at the end of the test (it was meant to hold an error). */
    uncheckLog(log: RecordingLog): void {
      checkedLogs.splice(checkedLogs.indexOf(log), 1);
    },

    /** A temporary database file, removed after the test. */
    tempDbPath(): string {
      const dir = mkdtempSync(join(tmpdir(), 'scheduler-engine-test-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return join(dir, 'scheduler.db');
    },

    /** A started engine. */
    async harness(options: HarnessOptions = {}): Promise<Harness> {
      const clock = options.clock ?? new FakeClock(T0);
      const inner = new SqliteTaskStore({ path: options.path ?? ':memory:' });
      const probed = probe(options.wrapStore ? options.wrapStore(inner) : inner);
      const { store, calls } = probed;
      const runner = options.runner ?? new FakeRunner({ now: () => clock.now() });
      const feed = new ChangeFeed(clock);
      const log = new RecordingLog();
      const engine = new Engine({
        store,
        runner,
        slots: options.maxRuns === undefined ? undefined : { maxRuns: options.maxRuns, queues: {} },
        clock,
        feed,
        log,
        keepRuns: options.keepRuns ?? 100,
        outputCap: 1024,
        limits: { maxScriptBytes: 64 * 1024 },
        warmupMs: options.warmupMs,
        fireAheadMs: options.fireAheadMs,
        activity: options.activity,
        maxOutputBytes: options.maxOutputBytes,
        faults: new FaultLog(log, clock),
        maxHeldOutputBytes: options.maxHeldOutputBytes,
      });
      cleanups.push(() => inner.close());
      if (options.shutdownAtEnd !== false) cleanups.push(() => engine.shutdown());
      checkedLogs.push(log);
      await engine.start();
      return { clock, inner, store, calls, runner, feed, log, engine };
    },
  };
}

/** True once a firing pass begun at or after call index `mark` has re-armed. */
export function passOverSince(h: Harness, mark: number): boolean {
  const begun = h.calls.indexOf('listDueTasks', mark);
  return begun >= 0 && h.calls.indexOf('earliestDueAt:done', begun) >= 0;
}

/**
 * Moves the clock on by `ms`; if that fired the engine's timer, waits until the firing pass
 * is over. Returns whether a pass happened.
 */
export async function step(h: Harness, ms: number): Promise<boolean> {
  const mark = h.calls.length;
  h.clock.advance(ms);
  // The timer callback starts the pass synchronously: it reads the due tasks first thing.
  if (h.calls.indexOf('listDueTasks', mark) < 0) return false;
  await until(() => passOverSince(h, mark), 'the firing pass to end');
  return true;
}

/** Moves the clock to `at` exactly, as `step` does; returns whether the engine woke. */
export function stepTo(h: Harness, at: number): Promise<boolean> {
  expect(at).toBeGreaterThanOrEqual(h.clock.now());
  return step(h, at - h.clock.now());
}

/** Moves the clock to `at`, expecting the engine to wake (a firing pass) there. */
export async function wakeAt(h: Harness, at: number): Promise<void> {
  expect(await stepTo(h, at), `the engine to wake at +${at - T0}ms`).toBe(true);
}

/** Moves the clock to `at`, expecting the engine not to wake on the way. */
export async function quietUntil(h: Harness, at: number): Promise<void> {
  expect(await stepTo(h, at), `the engine to stay asleep until +${at - T0}ms`).toBe(false);
}

export async function taskOf(h: Harness, id: string): Promise<Task> {
  const task = await h.inner.getTask(id);
  if (!task) throw new Error(`no task ${id} in the store`);
  return task;
}

export function runsOf(h: Harness, id: string): Promise<Run[]> {
  return h.inner.listRuns(id);
}

/** Ends `run` the way the test says and waits until the engine has recorded it. */
export async function finish(h: Harness, run: FakeRun, overrides: Partial<RunResult> = {}): Promise<void> {
  run.finish(overrides);
  await until(async () => {
    const record = (await runsOf(h, run.taskId)).find((r) => r.run === run.run);
    const task = await h.inner.getTask(run.taskId);
    return record !== undefined && record.outcome !== 'running' && !(task?.state.status === 'Executing' && task.state.run === run.run);
  }, `the end of ${run.taskId}#${run.run} to be recorded`);
}

/** The run the runner started most recently for `id`, which must exist. */
export function lastRunOf(h: Harness, id: string): FakeRun {
  const run = h.runner.runsOf(id).at(-1);
  if (!run) throw new Error(`no run of ${id} was started`);
  return run;
}
