/** POST /api/tasks: what is accepted, what comes back, and every way a submit is refused. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { bodyLimit, expectError, getTask, isoTime, listAll, maxScriptBytes, startHarness, submit, type Harness } from './harness.js';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  // The list is not empty, so "unchanged" below compares something.
  await submit(harness.app, { id: 'seed', time: '1h', script: 'echo seed' });
});

afterAll(async () => {
  await harness?.close();
});

const valid = { id: 'do_calc', type: 'delay', time: '1m', script: 'sleep 10s;echo $((1+2))' };

/** Sends a submit that must be refused, and checks it changed nothing. */
async function expectRefused(request: Omit<InjectOptions, 'method' | 'url'>, status: number, code: string): Promise<string> {
  const before = await listAll(harness.app);
  const response = await harness.app.inject({ method: 'POST', url: '/api/tasks', ...request });
  const message = expectError(response, status, code);
  expect(await listAll(harness.app)).toEqual(before);
  return message;
}

const refuse = (payload: unknown) => expectRefused({ payload: payload as object }, 400, 'invalid_request');

describe('POST /api/tasks accepts a task', () => {
  it('answers 201 with the task, its Location, and the fields of the spec', async () => {
    const before = Date.now();
    const response = await harness.app.inject({ method: 'POST', url: '/api/tasks', payload: valid });
    const after = Date.now();
    expect(response.statusCode, response.body).toBe(201);
    expect(response.headers.location).toBe('/api/tasks/do_calc');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const task = response.json<TaskJson>();
    expect(task).toMatchObject({
      id: 'do_calc',
      type: 'delay',
      time: '1m',
      script: 'sleep 10s;echo $((1+2))',
      status: 'ToBeExecuted',
      version: 1,
      stopRequested: false,
      results: [],
    });
    for (const field of ['lastStatusUpdated', 'createdAt', 'nextRunAt'] as const) expect(task[field]).toMatch(isoTime);
    const createdAt = Date.parse(task.createdAt);
    expect(createdAt).toBeGreaterThanOrEqual(before);
    expect(createdAt).toBeLessThanOrEqual(after);
    expect(task.lastStatusUpdated).toBe(task.createdAt);
    expect(Date.parse(task.nextRunAt!)).toBe(createdAt + 60_000);

    // What the Location names reads back the same.
    const read = await harness.app.inject({ method: 'GET', url: response.headers.location as string });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(task);
  });

  it('takes a cron task; its first run is one interval after submission', async () => {
    const task = await submit(harness.app, { id: 'print_ls_per_10s', type: 'cron', time: '10s', script: 'ls' });
    expect(task).toMatchObject({ type: 'cron', time: '10s', status: 'ToBeExecuted' });
    expect(Date.parse(task.nextRunAt!) - Date.parse(task.createdAt)).toBe(10_000);
  });

  it.each([
    ['10s', 10_000],
    ['1m', 60_000],
    ['20h', 72_000_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2h45m30.5s', 9_930_500],
  ])('reads the Go-style duration %s', async (time, ms) => {
    const task = await submit(harness.app, { id: `duration-${time.replaceAll('.', '_')}`, type: 'delay', time });
    expect(task.time).toBe(time);
    expect(Date.parse(task.nextRunAt!) - Date.parse(task.createdAt)).toBe(ms);
  });

  it('takes an id of 128 characters and a script of exactly the byte limit', async () => {
    const id = 'i'.repeat(128);
    const task = await submit(harness.app, { id, script: `#${'x'.repeat(maxScriptBytes - 1)}` });
    expect(task.id).toBe(id);
    expect(Buffer.byteLength(task.script)).toBe(maxScriptBytes);
  });

  it('takes a cron task at the shortest interval, 100ms', async () => {
    const task = await submit(harness.app, { id: 'fastest', type: 'cron', time: '100ms', script: 'true' });
    expect(task.time).toBe('100ms');
    const deleted = await harness.app.inject({ method: 'DELETE', url: '/api/tasks/fastest' });
    expect(deleted.statusCode).toBe(204);
  });

  it('keeps the script byte for byte', async () => {
    const script = "printf '%s\\n' \"ünï ✓\" && echo $HOME\n\techo 'done'";
    const task = await submit(harness.app, { id: 'verbatim', script });
    expect(task.script).toBe(script);
    expect((await getTask(harness.app, 'verbatim')).script).toBe(script);
  });
});

describe('POST /api/tasks refuses', () => {
  it.each(['id', 'type', 'time', 'script'])('a body without %s (400)', async (field) => {
    const body: Record<string, unknown> = { ...valid, id: 'missing' };
    delete body[field];
    expect(await refuse(body)).toContain(field);
  });

  it('an unknown field (400)', async () => {
    expect(await refuse({ ...valid, id: 'extra', priority: 1 })).toContain('priority');
  });

  it.each([
    ['id', 42],
    ['id', true],
    ['type', 1],
    ['time', 60],
    ['script', 123],
    ['script', true],
    ['script', null],
    ['script', ['echo', 'hi']],
    ['script', { run: 'echo' }],
  ])('%s of the wrong type %j (400)', async (field, value) => {
    expect(await refuse({ ...valid, id: 'wrong_type', [field]: value })).toContain(field);
  });

  it.each([[[]], ['a string'], [42]])('a body that is not an object: %j (400)', async (payload) => {
    await expectRefused({ payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }, 400, 'invalid_request');
  });

  it.each(['weekly', 'Delay', 'CRON', ''])('the type %j (400)', async (type) => {
    expect(await refuse({ ...valid, id: 'bad_type', type })).toContain('type');
  });

  it.each(['10', '1x', '-1s', '', 'abc', '1h-', 'm', '1.2.3s', ' 1s', '1s ', '1000000h'])('the duration %j (400)', async (time) => {
    expect(await refuse({ ...valid, id: 'bad_time', time })).toContain('time');
  });

  it.each(['99ms', '50ms', '0', '0s'])('a cron interval of %s, under 100ms (400)', async (time) => {
    expect(await refuse({ ...valid, id: 'too_fast', type: 'cron', time })).toContain('time');
  });

  it.each(['has space', 'a/b', 'semi;colon', 'ünïcödé', '', '../etc', 'quote"'])('the id %j (400)', async (id) => {
    expect(await refuse({ ...valid, id })).toContain('id');
  });

  it('an id of 129 characters (400)', async () => {
    expect(await refuse({ ...valid, id: 'i'.repeat(129) })).toContain('id');
  });

  it('a script one byte over the limit (400)', async () => {
    expect(await refuse({ ...valid, id: 'big_script', script: 'x'.repeat(maxScriptBytes + 1) })).toContain('script');
  });

  it('a script under the limit in characters but over it in bytes (400)', async () => {
    const script = 'é'.repeat(maxScriptBytes / 2 + 1); // 501 characters, 1002 bytes
    expect(script.length).toBeLessThan(maxScriptBytes);
    expect(await refuse({ ...valid, id: 'wide_script', script })).toContain('script');
  });

  it.each(['', '   ', '\n\t\n'])('an empty or blank script %j (400)', async (script) => {
    expect(await refuse({ ...valid, id: 'blank', script })).toContain('script');
  });

  it('malformed JSON (400)', async () => {
    await expectRefused({ payload: '{"id": "broken", "type": ', headers: { 'content-type': 'application/json' } }, 400, 'invalid_request');
  });

  it('an empty JSON body (400)', async () => {
    await expectRefused({ payload: '', headers: { 'content-type': 'application/json' } }, 400, 'invalid_request');
  });

  it('a body that is not JSON (415 unsupported_media_type)', async () => {
    const before = await listAll(harness.app);
    const response = await harness.app.inject({ method: 'POST', url: '/api/tasks', payload: 'id=x&type=delay', headers: { 'content-type': 'text/plain' } });
    expect(expectError(response, 415, 'unsupported_media_type')).toContain('Content-Type: application/json');
    expect(await listAll(harness.app)).toEqual(before);
  });

  it('a body over the size limit (413 payload_too_large)', async () => {
    const payload = JSON.stringify({ ...valid, id: 'huge', script: 'x'.repeat(bodyLimit) });
    expect(Buffer.byteLength(payload)).toBeGreaterThan(bodyLimit);
    await expectRefused({ payload, headers: { 'content-type': 'application/json' } }, 413, 'payload_too_large');
  });

  it('a second task with an id that is taken (409 already_exists), keeping the first', async () => {
    const first = await submit(harness.app, { id: 'taken', type: 'delay', time: '1h', script: 'echo first' });
    const message = await expectRefused({ payload: { id: 'taken', type: 'cron', time: '5m', script: 'echo second' } }, 409, 'already_exists');
    expect(message).toContain('taken');
    expect(await getTask(harness.app, 'taken')).toEqual(first);
  });
});
