/**
 * The daemon's Prometheus metrics (GET /metrics), with prom-client on a registry of its own.
 * No metric is labelled by task id: a label per task would make as many series as tasks.
 *
 * It learns what happens as one more listener of the engine's activity (TaskActivity: runs
 * started, skipped and finished, output written), times the store's operations by wrapping
 * the store, and reads the rest when scraped (runs active and waiting, SSE watchers, the
 * firing loop's last pass). The names and what they count are in docs/operations.md.
 */
import client from 'prom-client';
import { taskStatuses, taskTypes, type OutputStream, type Task } from '../core/task.js';
import type { Effect, TaskEvent } from '../core/transition.js';
import type { ConcurrencySnapshot } from '../core/run-slots.js';
import type { TaskActivity } from '../engine/task-activity.js';

/** Where a run came from: its schedule, `scheduler run`, or a retry of a failed run. */
export type RunSource = 'schedule' | 'run-now' | 'retry';

/** What the metrics read when scraped. */
export interface MetricsProbes {
  slots(): Pick<ConcurrencySnapshot, 'running' | 'waiting'>;
  /** How many event streams (SSE) are open. */
  sseSubscribers(): number;
  /** When the firing loop last finished a pass over the due tasks (ms since the epoch), if it has. */
  lastTickAt(): number | undefined;
  /** How many tasks of each type are in each status (the store's counts). */
  taskCounts(): Promise<ReadonlyArray<{ type: string; status: string; count: number }>>;
  /** How many tasks were due before `before` and have not fired, counting up to `cap` (the store's). */
  overdue(before: number, cap: number): Promise<number>;
  /** The runner's processes prepared ahead of their runs: held now, used and discarded so far. */
  prepared(): { held: number; used: number; discarded: number };
  now(): number;
}

/** A task due this long ago and not fired yet is overdue: the firing loop serves a due task within milliseconds. */
export const overdueAfterMs = 5000;
/** Overdue tasks are counted up to this many (the count reads the due index that far). */
const overdueCap = 100_000;

/** Lateness is a few milliseconds when all is well, seconds when the daemon is overloaded. */
const latenessBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const durationBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400];
const storeBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class SchedulerMetrics implements TaskActivity {
  readonly registry = new client.Registry();
  private readonly fireLateness: client.Histogram<'trigger'>;
  private readonly firesSkipped: client.Counter<'reason'>;
  private readonly runsStarted: client.Counter<'source'>;
  private readonly runsFinished: client.Counter<'outcome'>;
  private readonly runDuration: client.Histogram;
  private readonly queueWait: client.Histogram;
  /** scheduler_output_bytes_total's children, made once (it is counted per chunk of output). */
  private readonly stdoutBytes: client.Counter.Internal;
  private readonly stderrBytes: client.Counter.Internal;
  private readonly storeOperation: client.Histogram<'operation'>;
  /** Where the runs recorded waiting came from, until they start ("task\nrun"). */
  private readonly waitingSources = new Map<string, RunSource>();

  constructor(version: string, probes: MetricsProbes) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({ name: 'scheduler_build_info', help: 'Always 1; the labels say which build runs', labelNames: ['version', 'node'], registers }).set(
      { version, node: process.version },
      1,
    );
    this.fireLateness = new client.Histogram({
      name: 'scheduler_fire_lateness_seconds',
      help: "How late runs started after their fire time (a run that waited for a free slot counts its wait), by what fired them",
      labelNames: ['trigger'],
      buckets: latenessBuckets,
      registers,
    });
    this.firesSkipped = new client.Counter({
      name: 'scheduler_fires_skipped_total',
      help: 'Fires recorded as skipped: "overlap" (a run was still executing) or "catch_up" (they passed while the daemon was down)',
      labelNames: ['reason'],
      registers,
    });
    this.runsStarted = new client.Counter({ name: 'scheduler_runs_started_total', help: 'Runs started, by source: schedule, run-now, retry', labelNames: ['source'], registers });
    this.runsFinished = new client.Counter({
      name: 'scheduler_runs_finished_total',
      help: 'Runs ended, by outcome: succeeded, failed, timed_out, killed, interrupted',
      labelNames: ['outcome'],
      registers,
    });
    this.runDuration = new client.Histogram({ name: 'scheduler_run_duration_seconds', help: "Runs' wall time, from their start to their end", buckets: durationBuckets, registers });
    this.queueWait = new client.Histogram({ name: 'scheduler_run_queue_wait_seconds', help: 'How long runs that waited for a free slot waited', buckets: latenessBuckets, registers });
    const outputBytes = new client.Counter({ name: 'scheduler_output_bytes_total', help: 'Bytes runs wrote, by stream', labelNames: ['stream'], registers });
    this.stdoutBytes = outputBytes.labels({ stream: 'stdout' });
    this.stderrBytes = outputBytes.labels({ stream: 'stderr' });
    this.storeOperation = new client.Histogram({
      name: 'scheduler_store_operation_seconds',
      help: "Time of the store's operations, by operation (the store's method)",
      labelNames: ['operation'],
      buckets: storeBuckets,
      registers,
    });
    new client.Gauge({ name: 'scheduler_runs_active', help: 'Runs executing now (holding a slot)', registers, collect() {
      this.set(probes.slots().running);
    } });
    new client.Gauge({ name: 'scheduler_runs_waiting', help: 'Runs waiting for a free slot', registers, collect() {
      this.set(probes.slots().waiting);
    } });
    new client.Gauge({ name: 'scheduler_prepared_processes', help: "Runs' processes spawned ahead of their due time, held at their gates now", registers, collect() {
      this.set(probes.prepared().held);
    } });
    // Counted by the runner; read when scraped.
    new client.Counter({ name: 'scheduler_prepared_processes_used_total', help: 'Runs started from a process prepared ahead (the others started cold)', registers, collect() {
      this.reset();
      this.inc(probes.prepared().used);
    } });
    new client.Counter({
      name: 'scheduler_prepared_processes_discarded_total',
      help: 'Processes prepared ahead and ended unused (their task changed, was paused or deleted, or the run had not started 10 s later)',
      registers,
      collect() {
        this.reset();
        this.inc(probes.prepared().discarded);
      },
    });
    new client.Gauge({ name: 'scheduler_sse_subscribers', help: 'Event streams (GET /api/tasks/{id}/events) open now', registers, collect() {
      this.set(probes.sseSubscribers());
    } });
    new client.Gauge({
      name: 'scheduler_tasks',
      help: 'Tasks stored, by kind (delay, cron, at) and state (their status)',
      labelNames: ['kind', 'state'],
      registers,
      async collect() {
        const counts = new Map((await probes.taskCounts()).map(({ type, status, count }) => [`${type} ${status}`, count]));
        // Every pair, zero included, so that a series does not vanish when its last task leaves it.
        for (const kind of taskTypes) for (const state of taskStatuses) this.set({ kind, state }, counts.get(`${kind} ${state}`) ?? 0);
      },
    });
    new client.Gauge({
      name: 'scheduler_tasks_overdue',
      help: `Tasks due more than ${overdueAfterMs / 1000} s ago that have not fired (counted up to ${overdueCap}); above 0 for long, fires are not being served`,
      registers,
      async collect() {
        this.set(await probes.overdue(probes.now() - overdueAfterMs, overdueCap));
      },
    });
    new client.Gauge({
      name: 'scheduler_last_tick_timestamp_seconds',
      help: 'When the firing loop last finished a pass over the due tasks (0: not yet); far behind the time means fires are not being served',
      registers,
      collect() {
        this.set((probes.lastTickAt() ?? 0) / 1000);
      },
    });
  }

  /** The text exposition format, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  changed(task: Task, previous: Task, effect: Effect | null, runWaits = false, cause?: TaskEvent['kind']): void {
    if (!effect) return;
    switch (effect.kind) {
      case 'startRun': {
        if (effect.missed) this.firesSkipped.inc({ reason: 'catch_up' });
        const source: RunSource = cause === 'trigger' ? 'run-now' : effect.attempt > 1 ? 'retry' : 'schedule';
        if (runWaits) this.waitingSources.set(`${task.id}\n${effect.run}`, source);
        else this.started(source, effect.scheduledAt, effect.startedAt);
        return;
      }
      case 'recordStart': {
        const key = `${task.id}\n${effect.run}`;
        const source = this.waitingSources.get(key) ?? (effect.attempt > 1 ? 'retry' : 'schedule');
        this.waitingSources.delete(key);
        this.started(source, effect.scheduledAt, effect.startedAt);
        return;
      }
      case 'skipRun':
        // A fire that came while a run executed is the overlap rule's; any other was missed.
        this.firesSkipped.inc({ reason: previous.state.status === 'Executing' ? 'overlap' : 'catch_up' });
        return;
      case 'finishRun': {
        const { result } = effect;
        this.waitingSources.delete(`${task.id}\n${effect.run}`);
        this.runsFinished.inc({ outcome: result.outcome });
        if (result.startedAt !== null) this.runDuration.observe(Math.max(0, result.finishedAt - result.startedAt) / 1000);
        if (result.waitedMs !== undefined) this.queueWait.observe(result.waitedMs / 1000);
        return;
      }
      case 'killRun':
        return;
    }
  }

  output(_taskId: string, _run: number, stream: OutputStream, _offset: number, chunk: Buffer, _at?: number): void {
    (stream === 'stdout' ? this.stdoutBytes : this.stderrBytes).inc(chunk.length);
  }

  deleted(): void {
    // Nothing counts deletions; a waiting run of a deleted task ends (finishRun) or is dropped with the task.
  }

  /**
   * `store` with the time of each of its asynchronous operations observed, labelled by the
   * method's name (a fixed set). Everything else passes through untouched.
   */
  timeStore<S extends object>(store: S): S {
    const histogram = this.storeOperation;
    const timed = new Map<PropertyKey, unknown>();
    return new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        let wrapper = timed.get(property);
        if (!wrapper) {
          const method = value as (...args: unknown[]) => unknown;
          // The labelled child, made once: observing through the parent checks and hashes
          // the labels on every call, several times per run in a burst.
          const timings = histogram.labels({ operation: property });
          wrapper = function (this: unknown, ...args: unknown[]) {
            const begun = performance.now();
            const out = method.apply(this === receiver ? target : this, args);
            if (out instanceof Promise) {
              const observe = () => timings.observe((performance.now() - begun) / 1000);
              out.then(observe, observe);
            }
            return out;
          };
          timed.set(property, wrapper);
        }
        return wrapper;
      },
    });
  }

  private started(source: RunSource, scheduledAt: number, startedAt: number): void {
    this.runsStarted.inc({ source });
    if (source !== 'run-now') this.fireLateness.observe({ trigger: source }, Math.max(0, startedAt - scheduledAt) / 1000);
  }
}

/** Tells every listener of `listeners` the engine's activity, in order. */
export function activityOfAll(...listeners: TaskActivity[]): TaskActivity {
  return {
    changed: (task, previous, effect, runWaits, cause) => {
      for (const listener of listeners) listener.changed(task, previous, effect, runWaits, cause);
    },
    output: (taskId, run, stream, offset, chunk, at) => {
      for (const listener of listeners) listener.output(taskId, run, stream, offset, chunk, at);
    },
    deleted: (taskId) => {
      for (const listener of listeners) listener.deleted(taskId);
    },
  };
}
