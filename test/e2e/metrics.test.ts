/**
 * GET /metrics of a real daemon, scraped as Prometheus does and read in the text format:
 * the counters move as real runs happen (started by the schedule and by `scheduler run`,
 * finished, their output counted), the gauges and the store's timings are there, and the
 * route is behind the token like the API.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { parsePrometheusText, sampleValue, type Sample } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const token = 'metrics-test-token';
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: token } });
});

async function scrape(): Promise<Sample[]> {
  const response = await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

const cli = (args: string[]) => daemon.cli(args, { env: { SCHEDULER_TOKEN: token } });

describe('GET /metrics', () => {
  test('counts the runs a task makes, by source and outcome, with their lateness, durations and output', async () => {
    const before = await scrape();
    const started = (source: string, samples: Sample[]) => sampleValue(samples, 'scheduler_runs_started_total', { source }) ?? 0;
    const finished = (outcome: string, samples: Sample[]) => sampleValue(samples, 'scheduler_runs_finished_total', { outcome }) ?? 0;
    const stdout = (samples: Sample[]) => sampleValue(samples, 'scheduler_output_bytes_total', { stream: 'stdout' }) ?? 0;

    const submitted = await cli(['submit', 'measured', '-type=delay', '-time=200ms', "-script=printf '%s' twelve-bytes; exit 3"]);
    expect(submitted.code, submitted.stderr).toBe(0);
    await waitFor('the scheduled run to end', async () => (await daemon.task('measured'))?.status === 'Executed');
    // A run now of a recurring task whose first fire is an hour away.
    const recurring = await cli(['submit', 'measured-again', '-type=cron', '-time=1h', "-script=printf '%s' twelve-bytes; exit 3"]);
    expect(recurring.code, recurring.stderr).toBe(0);
    const ran = await cli(['run', 'measured-again']);
    expect(ran.code, ran.stderr).toBe(0);
    const after = await waitFor('the run now to be counted as finished', async () => {
      const samples = await scrape();
      return finished('failed', samples) - finished('failed', before) === 2 ? samples : undefined;
    });

    expect(started('schedule', after) - started('schedule', before)).toBe(1);
    expect(started('run-now', after) - started('run-now', before)).toBe(1);
    expect(stdout(after) - stdout(before)).toBe(24);
    const count = (name: string, labels: Record<string, string> = {}, samples = after) => sampleValue(samples, name, labels) ?? 0;
    expect(count('scheduler_fire_lateness_seconds_count', { trigger: 'schedule' }) - count('scheduler_fire_lateness_seconds_count', { trigger: 'schedule' }, before)).toBe(1);
    expect(count('scheduler_run_duration_seconds_count') - count('scheduler_run_duration_seconds_count', {}, before)).toBe(2);
    expect(count('scheduler_store_operation_seconds_count', { operation: 'saveTask' })).toBeGreaterThan(0);
    expect(sampleValue(after, 'scheduler_runs_active')).toBe(0);
    expect(sampleValue(after, 'scheduler_runs_waiting')).toBe(0);
    expect(sampleValue(after, 'scheduler_sse_subscribers')).toBe(0);
    // The firing loop has made a pass since the task fired.
    expect(sampleValue(after, 'scheduler_last_tick_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(after.find((sample) => sample.name === 'scheduler_build_info')?.labels).toMatchObject({ node: expect.stringMatching(/^v\d+/) });
    expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // The tasks, counted by the store: the delay task has run, the recurring one waits for its next fire.
    expect(sampleValue(after, 'scheduler_tasks', { kind: 'delay', state: 'Executed' })).toBe(1);
    expect(sampleValue(after, 'scheduler_tasks', { kind: 'cron', state: 'WaitForNextExecution' })).toBe(1);
    expect(sampleValue(after, 'scheduler_tasks_overdue')).toBe(0);
    // No series names a task.
    expect(after.filter((sample) => JSON.stringify(sample.labels).includes('measured'))).toEqual([]);
  });

  test("a run due later than the warm-up's 2 s starts from a shell prepared ahead, counted while held, then as used", async () => {
    const used = (samples: Sample[]) => sampleValue(samples, 'scheduler_prepared_processes_used_total') ?? 0;
    const before = await scrape();
    await daemon.api('POST', '/api/tasks', { id: 'warmed', type: 'delay', time: '4s', script: 'echo warm' });
    await waitFor('its shell to be prepared and held', async () => sampleValue(await scrape(), 'scheduler_prepared_processes') === 1);
    await waitFor('the run to end', async () => (await daemon.task('warmed'))?.status === 'Executed');
    const after = await scrape();
    expect(used(after) - used(before)).toBe(1);
    expect(sampleValue(after, 'scheduler_prepared_processes')).toBe(0);
    expect(sampleValue(after, 'scheduler_prepared_processes_discarded_total')).toBe(0);
  });

  test('a run submitted due within the warm-up time starts from a shell prepared as it was submitted', async () => {
    const used = (samples: Sample[]) => sampleValue(samples, 'scheduler_prepared_processes_used_total') ?? 0;
    const before = await scrape();
    await daemon.api('POST', '/api/tasks', { id: 'soon', type: 'delay', time: '1s', script: 'echo soon' });
    await waitFor('the run to end', async () => (await daemon.task('soon'))?.status === 'Executed');
    const after = await scrape();
    expect(used(after) - used(before)).toBe(1);
    expect(sampleValue(after, 'scheduler_prepared_processes_discarded_total')).toBe(0);
  });

  test('an open event stream is counted while it is open', async () => {
    await daemon.api('POST', '/api/tasks', { id: 'watched', type: 'delay', time: '1h', script: 'true' });
    const controller = new AbortController();
    const stream = await fetch(`${daemon.url}/api/tasks/watched/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    expect(stream.status).toBe(200);
    await waitFor('the stream to be counted', async () => sampleValue(await scrape(), 'scheduler_sse_subscribers') === 1);
    controller.abort();
    await waitFor('the stream to be forgotten', async () => sampleValue(await scrape(), 'scheduler_sse_subscribers') === 0);
  });

  test('is behind the token: 401 without it', async () => {
    const response = await fetch(`${daemon.url}/metrics`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});
