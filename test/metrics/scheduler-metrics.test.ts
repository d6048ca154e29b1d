/** The metrics (src/metrics/scheduler-metrics.ts) fed the engine's activity by hand, read in the text format. */
import { describe, expect, it } from 'vitest';
import { newTask, parseSubmission } from '../../src/core/submission.js';
import type { Task } from '../../src/core/task.js';
import type { RunResult } from '../../src/core/transition.js';
import { SchedulerMetrics } from '../../src/metrics/scheduler-metrics.js';
import { parsePrometheusText, sampleValue, type Sample } from '../support/prometheus-text.js';

const T = Date.parse('2030-01-01T00:00:00Z');
const task: Task = newTask(parseSubmission({ id: 'm', type: 'cron', time: '1m', script: 'true' }, { maxScriptBytes: 1000 }, T, 'UTC'), T);
const executing: Task = { ...task, state: { status: 'Executing', run: 1, nextRunAt: T + 120_000, stopRequested: false, fire: T + 60_000, attempt: 1 } };
const noOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };
const ended = (overrides: Partial<RunResult>): RunResult => ({
  outcome: 'succeeded',
  startedAt: T,
  finishedAt: T + 1500,
  exitCode: 0,
  signal: null,
  error: null,
  stdout: noOutput,
  stderr: noOutput,
  outputCap: 1024,
  ...overrides,
});

function metricsWith(probes: Partial<ConstructorParameters<typeof SchedulerMetrics>[1]> = {}) {
  return new SchedulerMetrics('1.2.3', {
    slots: () => ({ running: 2, waiting: 5 }),
    sseSubscribers: () => 7,
    lastTickAt: () => T,
    taskCounts: async () => [],
    overdue: async () => 0,
    prepared: () => ({ held: 12, used: 340, discarded: 3 }),
    now: () => T,
    ...probes,
  });
}

async function scrape(metrics: SchedulerMetrics): Promise<Sample[]> {
  const { contentType, body } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(body);
}

describe('SchedulerMetrics', () => {
  it('counts runs started by source, with the lateness of fires, and runs finished by outcome with their durations', async () => {
    const metrics = metricsWith();
    metrics.changed(executing, task, { kind: 'startRun', run: 1, scheduledAt: T, startedAt: T + 3, attempt: 1 }, false, 'fire');
    metrics.changed(executing, task, { kind: 'startRun', run: 2, scheduledAt: T, startedAt: T + 50, attempt: 2 }, false, 'fire');
    metrics.changed(executing, task, { kind: 'startRun', run: 3, scheduledAt: T, startedAt: T, attempt: 1 }, false, 'trigger');
    metrics.changed(task, executing, { kind: 'finishRun', run: 1, result: ended({}) }, false, 'runFinished');
    metrics.changed(task, executing, { kind: 'finishRun', run: 2, result: ended({ outcome: 'failed', exitCode: 1, finishedAt: T + 30_000 }) }, false, 'runFinished');
    metrics.changed(task, executing, { kind: 'finishRun', run: 3, result: ended({ outcome: 'killed', startedAt: null }) }, false, 'runFinished');
    const samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_runs_started_total', { source: 'schedule' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_runs_started_total', { source: 'retry' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_runs_started_total', { source: 'run-now' })).toBe(1);
    // A run now has no fire time to be late for.
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_count', { trigger: 'schedule' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_sum', { trigger: 'schedule' })).toBeCloseTo(0.003, 6);
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_bucket', { trigger: 'schedule', le: '0.0025' })).toBe(0);
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_bucket', { trigger: 'schedule', le: '0.005' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_sum', { trigger: 'retry' })).toBeCloseTo(0.05, 6);
    expect(sampleValue(samples, 'scheduler_fire_lateness_seconds_count', { trigger: 'run-now' })).toBeUndefined();
    expect(sampleValue(samples, 'scheduler_runs_finished_total', { outcome: 'succeeded' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_runs_finished_total', { outcome: 'failed' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_runs_finished_total', { outcome: 'killed' })).toBe(1);
    // The run that never started has no duration.
    expect(sampleValue(samples, 'scheduler_run_duration_seconds_count')).toBe(2);
    expect(sampleValue(samples, 'scheduler_run_duration_seconds_sum')).toBeCloseTo(31.5, 6);
  });

  it('a run that waits for a slot counts as started when it starts, with its source and wait', async () => {
    const metrics = metricsWith();
    metrics.changed(executing, task, { kind: 'startRun', run: 4, scheduledAt: T, startedAt: T, attempt: 1 }, true, 'trigger');
    expect(sampleValue(await scrape(metrics), 'scheduler_runs_started_total', { source: 'run-now' })).toBeUndefined();
    metrics.changed(executing, executing, { kind: 'recordStart', run: 4, scheduledAt: T, startedAt: T + 2000, attempt: 1 }, false, 'runStarted');
    metrics.changed(task, executing, { kind: 'finishRun', run: 4, result: ended({ startedAt: T + 2000, finishedAt: T + 2500, waitedMs: 2000 }) }, false, 'runFinished');
    const samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_runs_started_total', { source: 'run-now' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_run_queue_wait_seconds_sum')).toBe(2);
  });

  it('counts skipped fires by reason, output bytes by stream, and reads the gauges when scraped', async () => {
    let running = 2;
    const metrics = metricsWith({ slots: () => ({ running, waiting: 5 }) });
    metrics.changed(executing, executing, { kind: 'skipRun', run: 2, scheduledAt: T, at: T, reason: 'run 1 was still executing' }, false, 'fire');
    metrics.changed(task, task, { kind: 'skipRun', run: 3, scheduledAt: T, at: T, reason: 'missed while the daemon was down' }, false, 'fire');
    metrics.changed(executing, task, { kind: 'startRun', run: 5, scheduledAt: T, startedAt: T, attempt: 1, missed: { run: 4, scheduledAt: T - 60_000, reason: 'missed' } }, false, 'fire');
    metrics.output('m', 5, 'stdout', 0, Buffer.from('hello'), T);
    metrics.output('m', 5, 'stderr', 0, Buffer.from('oops!!'), T);
    metrics.output('m', 5, 'stdout', 5, Buffer.from(' world'), T);
    let samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_fires_skipped_total', { reason: 'overlap' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_fires_skipped_total', { reason: 'catch_up' })).toBe(2);
    expect(sampleValue(samples, 'scheduler_output_bytes_total', { stream: 'stdout' })).toBe(11);
    expect(sampleValue(samples, 'scheduler_output_bytes_total', { stream: 'stderr' })).toBe(6);
    expect(sampleValue(samples, 'scheduler_runs_active')).toBe(2);
    expect(sampleValue(samples, 'scheduler_runs_waiting')).toBe(5);
    expect(sampleValue(samples, 'scheduler_sse_subscribers')).toBe(7);
    expect(sampleValue(samples, 'scheduler_prepared_processes')).toBe(12);
    expect(sampleValue(samples, 'scheduler_prepared_processes_used_total')).toBe(340);
    expect(sampleValue(samples, 'scheduler_prepared_processes_discarded_total')).toBe(3);
    expect(sampleValue(samples, 'scheduler_last_tick_timestamp_seconds')).toBe(T / 1000);
    expect(sampleValue(samples, 'scheduler_build_info', { version: '1.2.3', node: process.version })).toBe(1);
    expect(sampleValue(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    running = 0;
    samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_runs_active')).toBe(0);
  });

  it("reports the store's counts of tasks by kind and state, every pair (zero included), and the overdue tasks as of 5 s ago", async () => {
    const asked: Array<[number, number]> = [];
    const metrics = metricsWith({
      taskCounts: async () => [
        { type: 'cron', status: 'WaitForNextExecution', count: 40 },
        { type: 'delay', status: 'Executed', count: 3 },
      ],
      overdue: async (before, cap) => {
        asked.push([before, cap]);
        return 2;
      },
    });
    const samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_tasks', { kind: 'cron', state: 'WaitForNextExecution' })).toBe(40);
    expect(sampleValue(samples, 'scheduler_tasks', { kind: 'delay', state: 'Executed' })).toBe(3);
    expect(sampleValue(samples, 'scheduler_tasks', { kind: 'at', state: 'Paused' })).toBe(0);
    expect(samples.filter((sample) => sample.name === 'scheduler_tasks')).toHaveLength(3 * 6);
    expect(sampleValue(samples, 'scheduler_tasks_overdue')).toBe(2);
    expect(asked).toEqual([[T - 5000, 100_000]]);
  });

  it("times the store's asynchronous operations by name, and passes results, errors and the rest through", async () => {
    const metrics = metricsWith();
    class Store {
      #rows = new Map([['a', 1]]);
      get size() {
        return this.#rows.size;
      }
      async getTask(id: string) {
        return this.#rows.get(id);
      }
      async saveTask() {
        throw new Error('disk full');
      }
      describe() {
        return `store of ${this.#rows.size}`;
      }
    }
    const store = metrics.timeStore(new Store());
    expect(await store.getTask('a')).toBe(1);
    expect(await store.getTask('a')).toBe(1);
    await expect(store.saveTask()).rejects.toThrow('disk full');
    expect(store.describe()).toBe('store of 1');
    expect(store.size).toBe(1);
    const samples = await scrape(metrics);
    expect(sampleValue(samples, 'scheduler_store_operation_seconds_count', { operation: 'getTask' })).toBe(2);
    expect(sampleValue(samples, 'scheduler_store_operation_seconds_count', { operation: 'saveTask' })).toBe(1);
    expect(sampleValue(samples, 'scheduler_store_operation_seconds_count', { operation: 'describe' })).toBeUndefined();
  });
});
