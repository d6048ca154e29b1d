/**
 * One form per kind of value in answers: times RFC 3339 UTC with milliseconds (an `at`
 * task's time included), durations a task was given as canonical Go-style durations
 * whatever way they were typed, measured amounts as numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTask, isoTime, startHarness, type Harness } from './harness.js';
import type { TaskJson } from '../../src/protocol/schemas.js';

describe('the forms of times and durations in answers', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(() => harness.close());

  it('writes every duration a task was given in canonical Go form, however it was typed; `time` of an interval as submitted', async () => {
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/tasks',
      payload: { id: 'forms', type: 'cron', time: '1.5h', script: 'true', timeout: '90s', jitter: '60000ms', retries: 2, retryDelay: '0.5s', retryMaxDelay: '2h', catchUpWindow: '120m' },
    });
    expect(response.statusCode, response.body).toBe(201);
    const expected = { time: '1.5h', timeout: '1m30s', jitter: '1m0s', retryDelay: '500ms', retryMaxDelay: '2h0m0s', catchUpWindow: '2h0m0s' };
    expect(response.json<TaskJson>()).toMatchObject(expected);
    expect(await getTask(harness.app, 'forms')).toMatchObject(expected);
  });

  it("normalises an at task's time, given with an offset or as a local time, to RFC 3339 UTC with milliseconds", async () => {
    for (const [id, time, timezone, expected] of [
      ['at-offset', '2031-03-04T05:06:07+01:00', undefined, '2031-03-04T04:06:07.000Z'],
      ['at-local', '2031-03-04 05:06', 'Asia/Tokyo', '2031-03-03T20:06:00.000Z'],
    ] as const) {
      const response = await harness.app.inject({ method: 'POST', url: '/api/tasks', payload: { id, type: 'at', time, script: 'true', ...(timezone ? { timezone } : {}) } });
      expect(response.statusCode, response.body).toBe(201);
      const task = await getTask(harness.app, id);
      expect(task.time).toBe(expected);
      expect(task.time).toMatch(isoTime);
      expect(task.nextRunAt).toBe(expected);
      for (const field of ['createdAt', 'lastStatusUpdated'] as const) expect(task[field]).toMatch(isoTime);
    }
  });
});
