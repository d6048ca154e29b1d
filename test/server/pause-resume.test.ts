/**
 * POST /api/tasks/{id}/pause, /resume and /run over a real engine (app.inject). Runs that
 * must stay in progress use the ManualLauncher: they end only when the test finishes them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { StopResponse, TaskJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, isoTime, listAll, startHarness, submit, waitForStatus, waitForTask, type Harness } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness;

afterEach(async () => {
  await harness?.close();
});

type Action = 'pause' | 'resume' | 'run';

/** POST /api/tasks/{id}/{action}, expecting 200; the answer. */
async function act(action: Action, id: string): Promise<StopResponse> {
  const response = await harness.app.inject({ method: 'POST', url: `/api/tasks/${id}/${action}` });
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  return response.json<StopResponse>();
}

/** The answer without its warning: what a GET of the task shows. */
function withoutWarning(answer: StopResponse): TaskJson {
  const { warning: _warning, ...task } = answer;
  return task as TaskJson;
}

describe('POST /api/tasks/{id}/pause', () => {
  it('pauses a waiting cron task at once: status Paused, no next run, no warning; a second pause changes nothing', async () => {
    harness = await startHarness({ launcher: new ManualLauncher() });
    const submitted = await submit(harness.app, { id: 'p', type: 'cron', time: '1h', script: 'ls' });
    expect(submitted).toMatchObject({ status: 'ToBeExecuted', pauseRequested: false });

    const paused = await act('pause', 'p');
    expect(paused).toMatchObject({ id: 'p', status: 'Paused', nextRunAt: null, pauseRequested: false, stopRequested: false, version: 2, results: [] });
    expect('warning' in paused).toBe(false);
    expect(paused.lastStatusUpdated).toMatch(isoTime);
    expect(await getTask(harness.app, 'p')).toEqual(paused);
    expect((await listAll(harness.app)).tasks).toEqual([expect.objectContaining({ id: 'p', status: 'Paused', pauseRequested: false })]);
    const byStatus = await harness.app.inject({ method: 'GET', url: '/api/tasks?status=Paused' });
    expect(byStatus.json<{ tasks: TaskJson[] }>().tasks.map((task) => task.id)).toEqual(['p']);
    // No next fire while paused.
    const next = await harness.app.inject({ method: 'GET', url: '/api/tasks/p/next' });
    expect(next.json()).toEqual({ id: 'p', status: 'Paused', nextRuns: [] });

    const again = await act('pause', 'p');
    expect(again).toEqual(paused);
  });

  it('pauses an executing cron task: 200 with a warning and pauseRequested; the run finishes, then Paused', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'busy', type: 'cron', time: '100ms', script: 'ls' });
    await waitForStatus(harness.app, 'busy', 'Executing');

    const answer = await act('pause', 'busy');
    expect(answer).toMatchObject({ status: 'Executing', pauseRequested: true, stopRequested: false, nextRunAt: null });
    expect(answer.warning).toBe('run 1 is still executing and will finish; then the task is Paused');
    expect(await getTask(harness.app, 'busy')).toEqual(withoutWarning(answer));
    expect(launcher.runs[0]!.killed).toBe(false);

    // Paused twice: the same answer, the same version.
    const again = await act('pause', 'busy');
    expect(again.version).toBe(answer.version);
    expect(again.pauseRequested).toBe(true);

    launcher.runs[0]!.finish();
    const paused = await waitForStatus(harness.app, 'busy', 'Paused');
    expect(paused).toMatchObject({ pauseRequested: false, stopRequested: false, nextRunAt: null });
    expect(paused.results.find((run) => run.run === 1)).toMatchObject({ outcome: 'succeeded' });
    // Ticks that came before the pause were skipped; none came after it.
    expect(paused.results.filter((run) => run.run !== 1).every((run) => run.outcome === 'skipped')).toBe(true);
    expect(launcher.runs).toHaveLength(1);
  });

  it.each([
    ['delay', '1h'],
    ['at', '2099-01-01T00:00:00Z'],
  ])('refuses a %s task (409 status_conflict: it runs once)', async (type, time) => {
    harness = await startHarness({ launcher: new ManualLauncher() });
    const submitted = await submit(harness.app, { id: 'once', type, time, script: 'ls' });
    const message = expectError(await harness.app.inject({ method: 'POST', url: '/api/tasks/once/pause' }), 409, 'status_conflict');
    expect(message).toBe(`cannot pause ${type} task once: it runs once; stop it instead`);
    expect(await getTask(harness.app, 'once')).toEqual(submitted);
  });

  it('refuses a cron task that is stopping (409 status_conflict)', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'stopping', type: 'cron', time: '100ms', script: 'ls' });
    await waitForStatus(harness.app, 'stopping', 'Executing');
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/stopping' })).statusCode).toBe(200);
    const before = await getTask(harness.app, 'stopping');
    expect(expectError(await harness.app.inject({ method: 'POST', url: '/api/tasks/stopping/pause' }), 409, 'status_conflict')).toMatch(/stopped/);
    expect(await getTask(harness.app, 'stopping')).toEqual(before);
    launcher.runs[0]!.finish();
    await waitForStatus(harness.app, 'stopping', 'Stopped');
  });

  it('a stop after a pause during the run: the answer agrees with what a GET then shows', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'both', type: 'cron', time: '100ms', script: 'ls' });
    await waitForStatus(harness.app, 'both', 'Executing');
    await act('pause', 'both');
    const response = await harness.app.inject({ method: 'PUT', url: '/api/tasks/both' });
    expect(response.statusCode, response.body).toBe(200);
    const stopped = response.json<StopResponse>();
    expect(stopped).toMatchObject({ status: 'Executing', stopRequested: true, nextRunAt: null });
    expect(await getTask(harness.app, 'both')).toEqual(withoutWarning(stopped));
    launcher.runs[0]!.finish();
    await waitForStatus(harness.app, 'both', 'Stopped');
  });
});

describe('POST /api/tasks/{id}/resume', () => {
  it('resumes a paused task that never ran: ToBeExecuted, at its first fire (not missed yet)', async () => {
    harness = await startHarness({ launcher: new ManualLauncher() });
    const submitted = await submit(harness.app, { id: 'r', type: 'cron', time: '1h', script: 'ls' });
    await act('pause', 'r');
    const resumed = await act('resume', 'r');
    expect(resumed).toMatchObject({ status: 'ToBeExecuted', nextRunAt: submitted.nextRunAt, pauseRequested: false, version: 3 });
    expect('warning' in resumed).toBe(false);
    expect(await getTask(harness.app, 'r')).toEqual(resumed);
  });

  it('resuming a task that is not paused changes nothing', async () => {
    harness = await startHarness({ launcher: new ManualLauncher() });
    const submitted = await submit(harness.app, { id: 'r', type: 'cron', time: '1h', script: 'ls' });
    expect(await act('resume', 'r')).toEqual(submitted);
  });

  it('resumes a cron task paused during its run before the run ends: the pause is dropped, the schedule goes on', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'r', type: 'cron', time: '100ms', script: 'ls' });
    await waitForStatus(harness.app, 'r', 'Executing');
    const paused = await act('pause', 'r');
    const resumed = await act('resume', 'r');
    expect(resumed).toMatchObject({ status: 'Executing', pauseRequested: false, stopRequested: false, version: paused.version + 1 });
    expect(resumed.nextRunAt).toMatch(isoTime);
    expect(Date.parse(resumed.nextRunAt!)).toBeGreaterThan(Date.parse(resumed.lastStatusUpdated));
    launcher.runs[0]!.finish();
    // It waits for its next fire, and then runs again (a second process starts).
    await waitForTask(harness.app, 'r', (task) => task.results.some((run) => run.run > 1 && run.outcome === 'running'));
    expect(launcher.runs.length).toBeGreaterThanOrEqual(2);
    launcher.runs.at(-1)!.finish();
  });
});

describe('POST /api/tasks/{id}/run', () => {
  it('starts a run of a waiting cron task now, keeping its next fire; a second run while it executes is skipped with a warning', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    const submitted = await submit(harness.app, { id: 'now', type: 'cron', time: '1h', script: 'ls' });

    const answer = await act('run', 'now');
    expect('warning' in answer).toBe(false);
    expect(answer).toMatchObject({ status: 'Executing', nextRunAt: submitted.nextRunAt, pauseRequested: false, version: 2 });
    expect(answer.results).toEqual([expect.objectContaining({ run: 1, outcome: 'running' })]);
    expect(answer.results[0]!.scheduledAt).toBe(answer.results[0]!.startedAt);
    expect(launcher.runs.map((run) => run.spec.run)).toEqual([1]);

    const skipped = await act('run', 'now');
    expect(skipped.warning).toBe('run 2 skipped: run 1 is still executing');
    expect(skipped).toMatchObject({ status: 'Executing', version: 3 });
    expect(skipped.results.map((run) => [run.run, run.outcome])).toEqual([[1, 'running'], [2, 'skipped']]);
    expect(skipped.results[1]).toMatchObject({ error: 'a run was asked for while run 1 was executing', startedAt: null });
    expect(launcher.runs).toHaveLength(1);

    launcher.runs[0]!.finish();
    const waiting = await waitForStatus(harness.app, 'now', 'WaitForNextExecution');
    expect(waiting.nextRunAt).toBe(submitted.nextRunAt);
  });

  it('runs a paused task once: pauseRequested during the run, Paused again after it', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    await submit(harness.app, { id: 'held', type: 'cron', time: '1h', script: 'ls' });
    await act('pause', 'held');
    const answer = await act('run', 'held');
    expect(answer).toMatchObject({ status: 'Executing', pauseRequested: true, nextRunAt: null });
    expect('warning' in answer).toBe(false);
    launcher.runs[0]!.finish();
    const paused = await waitForStatus(harness.app, 'held', 'Paused');
    expect(paused).toMatchObject({ pauseRequested: false, nextRunAt: null });
    expect(paused.results.map((run) => [run.run, run.outcome])).toEqual([[1, 'succeeded']]);
  });

  it('runs a delay task now: it ends Executed', async () => {
    harness = await startHarness();
    await submit(harness.app, { id: 'once', type: 'delay', time: '1h', script: 'echo ran' });
    const answer = await act('run', 'once');
    expect(answer).toMatchObject({ status: 'Executing', nextRunAt: null });
    const executed = await waitForStatus(harness.app, 'once', 'Executed');
    expect(executed.results).toEqual([expect.objectContaining({ run: 1, outcome: 'succeeded', stdout: 'ran\n' })]);
  });
});

describe('pause, resume and run: errors', () => {
  it.each(['pause', 'resume', 'run'] as const)('%s: 409 status_conflict on an Executed and on a Stopped task', async (action) => {
    harness = await startHarness();
    await submit(harness.app, { id: 'done', type: 'delay', time: '10ms', script: 'true' });
    const executed = await waitForStatus(harness.app, 'done', 'Executed');
    await submit(harness.app, { id: 'halted', type: 'cron', time: '1h', script: 'true' });
    expect((await harness.app.inject({ method: 'PUT', url: '/api/tasks/halted' })).statusCode).toBe(200);
    const stopped = await getTask(harness.app, 'halted');
    const verb = action === 'run' ? 'run' : action;
    expect(expectError(await harness.app.inject({ method: 'POST', url: `/api/tasks/done/${action}` }), 409, 'status_conflict')).toBe(
      `cannot ${verb} task done: it is Executed, and nothing more happens to it`,
    );
    expect(expectError(await harness.app.inject({ method: 'POST', url: `/api/tasks/halted/${action}` }), 409, 'status_conflict')).toBe(
      `cannot ${verb} task halted: it is Stopped, and nothing more happens to it`,
    );
    expect(await getTask(harness.app, 'done')).toEqual(executed);
    expect(await getTask(harness.app, 'halted')).toEqual(stopped);
  });

  it.each(['pause', 'resume', 'run'] as const)('%s: 404 not_found for an unknown id, 400 for an impossible one', async (action) => {
    harness = await startHarness();
    expectError(await harness.app.inject({ method: 'POST', url: `/api/tasks/nobody/${action}` }), 404, 'not_found');
    expectError(await harness.app.inject({ method: 'POST', url: `/api/tasks/${'i'.repeat(129)}/${action}` }), 400, 'invalid_request');
  });

  it.each(['pause', 'resume', 'run'] as const)('%s: 401 without the token', async (action) => {
    harness = await startHarness({ token: 'tok' });
    expectError(await harness.app.inject({ method: 'POST', url: `/api/tasks/x/${action}` }), 401, 'unauthorized');
  });

  it('stop works on a paused task', async () => {
    harness = await startHarness({ launcher: new ManualLauncher() });
    await submit(harness.app, { id: 'p', type: 'cron', time: '1h', script: 'ls' });
    await act('pause', 'p');
    const response = await harness.app.inject({ method: 'PUT', url: '/api/tasks/p' });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ status: 'Stopped', nextRunAt: null });
  });
});
