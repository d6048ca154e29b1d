/** The long poll: GET /api/tasks/{id}?watch=true&version=N[&timeout=D]. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, startHarness, submit, waitForStatus, type Harness } from './harness.js';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.close();
});

/** Starts a long poll and tracks when it answers. */
function startPoll(url: string) {
  const poll = { settled: false, at: 0, response: undefined as unknown as Promise<LightMyRequestResponse> };
  poll.response = harness.app.inject({ method: 'GET', url }).then((response) => {
    poll.settled = true;
    poll.at = Date.now();
    return response;
  });
  return poll;
}

/** Waits until `count` long polls are parked on the change feed. */
async function waitForWatchers(count: number): Promise<void> {
  await vi.waitFor(() => expect(harness.feed.waiting).toBe(count), { timeout: 5000, interval: 5 });
}

describe('GET /api/tasks/{id}?watch=true', () => {
  it('answers at once when the version differs', async () => {
    await submit(harness.app, { id: 'differs' });
    const published = vi.spyOn(harness.feed, 'publish');
    for (const version of [0, 2, 77]) {
      // Nothing changes the task meanwhile: a poll that waited would answer only at its
      // timeout (60s), past the test's own.
      const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/differs?watch=true&version=${version}&timeout=60s` });
      expect(response.statusCode).toBe(200);
      expect(response.json<TaskJson>()).toMatchObject({ id: 'differs', version: 1, status: 'ToBeExecuted' });
    }
    expect(published).not.toHaveBeenCalled();
    published.mockRestore();
    expect(harness.feed.waiting).toBe(0);
  });

  it('wakes a thousand watchers of one task with one change, sharing one read, and forgets them all', async () => {
    await submit(harness.app, { id: 'crowd' });
    const polls = Array.from({ length: 1000 }, () => startPoll('/api/tasks/crowd?watch=true&version=1&timeout=60s'));
    await waitForWatchers(1000);
    const reads = vi.spyOn(harness.engine, 'get');
    const stop = await harness.app.inject({ method: 'PUT', url: '/api/tasks/crowd' });
    expect(stop.statusCode).toBe(200);
    const responses = await Promise.all(polls.map((poll) => poll.response));
    for (const response of responses) {
      expect(response.statusCode).toBe(200);
      expect(response.json<TaskJson>()).toMatchObject({ id: 'crowd', status: 'Stopped', version: 2 });
    }
    // The stop reads the store directly; the thousand woken watchers share a single read.
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
    expect(harness.feed.waiting).toBe(0);
  });

  it('waits while the version is current, and answers right after a change (a stop)', async () => {
    await submit(harness.app, { id: 'waits' });
    const poll = startPoll('/api/tasks/waits?watch=true&version=1&timeout=60s');
    await waitForWatchers(1);
    expect(poll.settled).toBe(false);
    const stoppedAt = Date.now();
    const stop = await harness.app.inject({ method: 'PUT', url: '/api/tasks/waits' });
    expect(stop.statusCode).toBe(200);
    const response = await poll.response;
    expect(response.statusCode).toBe(200);
    expect(response.json<TaskJson>()).toMatchObject({ id: 'waits', status: 'Stopped', version: 2 });
    // Answered by the change, not by its timeout (60s, past the test's own).
    expect(poll.at).toBeGreaterThanOrEqual(stoppedAt);
    expect(harness.feed.waiting).toBe(0);
  });

  it('wakes every watcher of the task on one change, and only those', async () => {
    await submit(harness.app, { id: 'many' });
    await submit(harness.app, { id: 'bystander' });
    const polls = [1, 2, 3].map(() => startPoll('/api/tasks/many?watch=true&version=1&timeout=60s'));
    const other = startPoll('/api/tasks/bystander?watch=true&version=1&timeout=60s');
    await waitForWatchers(4);
    await harness.app.inject({ method: 'PUT', url: '/api/tasks/many' });
    for (const poll of polls) {
      const response = await poll.response;
      expect(response.json<TaskJson>()).toMatchObject({ id: 'many', status: 'Stopped', version: 2 });
    }
    await waitForWatchers(1);
    expect(other.settled).toBe(false);
    await harness.app.inject({ method: 'PUT', url: '/api/tasks/bystander' });
    expect((await other.response).json<TaskJson>()).toMatchObject({ id: 'bystander', version: 2 });
  });

  it('follows a run: each change of a running task answers the poll with the next version', async () => {
    await submit(harness.app, { id: 'runs', type: 'delay', time: '100ms', script: 'echo watched' });
    const seen: TaskJson[] = [];
    let version = 1;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/runs?watch=true&version=${version}&timeout=5s` });
      const task = response.json<TaskJson>();
      if (task.version === version) continue; // timed out; ask again
      seen.push(task);
      version = task.version;
      if (task.status === 'Executed') break;
    }
    expect(seen.at(-1)).toMatchObject({ status: 'Executed', version: 3, results: [expect.objectContaining({ stdout: 'watched\n', outcome: 'succeeded' })] });
    // Versions only go up, one per change.
    const versions = seen.map((task) => task.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions.every((v) => v >= 2 && v <= 3)).toBe(true);
  });

  it('answers with the unchanged task once the timeout passes', async () => {
    const submitted = await submit(harness.app, { id: 'quiet' });
    const started = Date.now();
    const response = await harness.app.inject({ method: 'GET', url: '/api/tasks/quiet?watch=true&version=1&timeout=200ms' });
    const elapsed = Date.now() - started;
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(submitted);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(harness.feed.waiting).toBe(0);
  });

  it('answers 404 when the task is deleted during the wait', async () => {
    await submit(harness.app, { id: 'vanishes' });
    const poll = startPoll('/api/tasks/vanishes?watch=true&version=1&timeout=60s');
    await waitForWatchers(1);
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/vanishes' })).statusCode).toBe(204);
    expectError(await poll.response, 404, 'not_found');
    expect(harness.feed.waiting).toBe(0);
  });

  it('answers 404 at once for an unknown task', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/api/tasks/ghost?watch=true&version=1&timeout=60s' });
    expectError(response, 404, 'not_found');
    expect(harness.feed.waiting).toBe(0);
  });

  it('answers the plain task when watch=false', async () => {
    const submitted = await submit(harness.app, { id: 'plain' });
    const response = await harness.app.inject({ method: 'GET', url: '/api/tasks/plain?watch=false' });
    expect(response.json()).toEqual(submitted);
  });

  it.each(['watch=false&version=1', 'version=1', 'timeout=5s', 'version=1&timeout=5s'])('refuses %s: version and timeout only make sense with watch=true', async (query) => {
    const id = `lone-${query.replace(/[^a-z0-9]/gi, '-')}`;
    await submit(harness.app, { id });
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/${id}?${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('only with watch=true') });
  });

  it.each([
    ['lone-1', '?watch=false&version=1'],
    ['lone-2', '?version=1'],
    ['lone-3', '?timeout=1s'],
    ['lone-4', '?watch=false&version=0&timeout=5s'],
  ])(
    '%s: refuses %s: version and timeout only make sense with watch=true (400, never ignored)',
    async (id, query) => {
      await submit(harness.app, { id });
      const message = expectError(await harness.app.inject({ method: 'GET', url: `/api/tasks/${id}${query}` }), 400, 'invalid_request');
      expect(message).toContain('only with watch=true');
      for (const name of ['version', 'timeout']) if (query.includes(`${name}=`)) expect(message).toContain(name);
    },
  );

  it.each([
    ['watch=true', 'version'],
    ['watch=true&version=-1', 'version'],
    ['watch=true&version=abc', 'version'],
    ['watch=true&version=1.5', 'version'],
    ['watch=maybe&version=1', 'watch'],
    ['watch=true&version=1&timeout=soon', 'timeout'],
    ['watch=true&version=1&timeout=-1s', 'timeout'],
    ['watch=true&version=1&timeout=6m', 'timeout'],
  ])('refuses ?%s (400 invalid_request)', async (query, field) => {
    await getTask(harness.app, 'plain');
    const response = await harness.app.inject({ method: 'GET', url: `/api/tasks/plain?${query}` });
    expect(expectError(response, 400, 'invalid_request')).toContain(field);
    expect(harness.feed.waiting).toBe(0);
  });

  it('answers a watch that races a stop with the stopped version, whichever comes first', async () => {
    await submit(harness.app, { id: 'race', type: 'delay', time: '1h' });
    const poll = startPoll('/api/tasks/race?watch=true&version=1&timeout=60s');
    const stop = await harness.app.inject({ method: 'PUT', url: '/api/tasks/race' });
    expect(stop.statusCode).toBe(200);
    const task = (await poll.response).json<TaskJson>();
    expect(task).toMatchObject({ status: 'Stopped', version: 2 });
    expect(await waitForStatus(harness.app, 'race', 'Stopped')).toMatchObject({ version: 2 });
  });
});
