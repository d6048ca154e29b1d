/**
 * GET /api/export and POST /api/import against a real engine and SQLite store (app.inject):
 * the format's lines, and what an import does with a body that is not an export, a damaged
 * line, an id that is taken, another format version and a body cut off. Moving tasks between
 * real daemons is test/e2e/export-import.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appVersion, expectError, getTask, startHarness, submit, waitForStatus, type Harness } from './harness.js';

let harness: Harness;

beforeEach(async () => {
  harness = await startHarness();
});

afterEach(async () => {
  await harness.close();
});

async function exportLines(): Promise<Array<Record<string, unknown>>> {
  const response = await harness.app.inject({ method: 'GET', url: '/api/export' });
  expect(response.statusCode, response.body).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
  return response.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

function importBody(body: string, query = '') {
  return harness.app.inject({ method: 'POST', url: `/api/import${query}`, headers: { 'content-type': 'application/x-ndjson' }, body });
}

/** An export of tasks `ids` (cron, every hour) taken from this harness, then deleted from it. */
async function exportedAndDeleted(ids: string[]): Promise<string[]> {
  for (const id of ids) await submit(harness.app, { id, type: 'cron', time: '1h', script: `echo ${id}` });
  const lines = (await exportLines()).map((line) => JSON.stringify(line));
  for (const id of ids) expect((await harness.app.inject({ method: 'DELETE', url: `/api/tasks/${id}` })).statusCode).toBe(204);
  return lines;
}

describe('GET /api/export', () => {
  it('answers a header and an end line when there are no tasks', async () => {
    const lines = await exportLines();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ format: 'scheduler-export', formatVersion: 1, schedulerVersion: appVersion, exportedAt: expect.any(String) });
    expect(lines[1]).toEqual({ end: true, tasks: 0, runs: 0 });
  });

  it('has one line per task, in submission order, over several pages', async () => {
    const ids = Array.from({ length: 205 }, (_, index) => `t${String(index).padStart(3, '0')}`);
    for (const id of ids) await submit(harness.app, { id, type: 'cron', time: '1h', script: 'true' });
    const lines = await exportLines();
    expect(lines.slice(1, -1).map((line) => (line.task as { id: string }).id)).toEqual(ids);
    expect(lines.at(-1)).toEqual({ end: true, tasks: 205, runs: 0 });
  });
});

describe('POST /api/import', () => {
  it('imports the tasks of an export as they were', async () => {
    const lines = await exportedAndDeleted(['a', 'b']);
    const response = await importBody(lines.join('\n'));
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ tasks: 2, runs: 0, interrupted: 0, skippedCount: 0, skipped: [], refusedCount: 0, refused: [], complete: true });
    expect((await getTask(harness.app, 'b')).script).toBe('echo b');
  });

  it('refuses an id that is taken, naming its line, and imports the others; onConflict=skip skips it', async () => {
    const lines = await exportedAndDeleted(['kept', 'new1', 'new2']);
    await submit(harness.app, { id: 'kept', script: 'echo mine' });
    const refused = (await importBody(lines.join('\n'))).json();
    expect(refused).toMatchObject({ tasks: 2, skipped: [], refusedCount: 1, complete: true });
    expect(refused.refused).toEqual([{ line: 2, id: 'kept', code: 'already_exists', message: expect.stringContaining('"kept" already exists') }]);
    expect((await getTask(harness.app, 'kept')).script).toBe('echo mine');

    const skipped = (await importBody(lines.join('\n'), '?onConflict=skip')).json();
    expect(skipped).toMatchObject({ tasks: 0, skippedCount: 3, skipped: ['kept', 'new1', 'new2'], refusedCount: 0, refused: [] });
  });

  it('refuses a damaged line and goes on with the next', async () => {
    const lines = await exportedAndDeleted(['first', 'second', 'third']);
    const damaged = JSON.parse(lines[2]!) as { task: { version: unknown } };
    damaged.task.version = 'seven';
    const body = [lines[0], lines[1], JSON.stringify(damaged), '{"task": oops', lines[3], lines[4]].join('\n');
    const summary = (await importBody(body)).json();
    expect(summary).toMatchObject({ tasks: 2, complete: true });
    expect(summary.refused).toEqual([
      { line: 3, id: 'second', code: 'invalid_request', message: expect.stringContaining('/task/version') },
      { line: 4, id: null, code: 'invalid_request', message: expect.stringContaining('line 4 is not JSON') },
    ]);
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks/second' })).statusCode).toBe(404);
  });

  it('refuses a task holding a NUL character (PostgreSQL cannot store one, a shell cannot run one); NUL in a run\'s output is kept', async () => {
    await submit(harness.app, { id: 'fine', type: 'delay', time: '10ms', script: "printf 'a\\000b'" });
    await waitForStatus(harness.app, 'fine', 'Executed');
    const lines = await exportedAndDeleted(['in-script', 'in-env']);
    expect((await harness.app.inject({ method: 'DELETE', url: '/api/tasks/fine' })).statusCode).toBe(204);
    const [header, fine, inScriptLine, inEnvLine, end] = lines;
    expect((JSON.parse(fine!) as { runs: Array<{ stdout: { text: string } }> }).runs[0]!.stdout.text).toBe('a\u0000b');
    const inScript = JSON.parse(inScriptLine!) as { task: { script: string } };
    inScript.task.script = 'echo a\u0000b';
    const inEnv = JSON.parse(inEnvLine!) as { task: { execution: { env: Record<string, string> } } };
    inEnv.task.execution.env = { GREETING: 'hel\u0000lo' };
    const summary = (await importBody([header, fine, JSON.stringify(inScript), JSON.stringify(inEnv), end].join('\n'))).json();
    expect(summary.refused).toEqual([
      { line: 3, id: 'in-script', code: 'invalid_request', message: expect.stringContaining('NUL character at /task/script') },
      { line: 4, id: 'in-env', code: 'invalid_request', message: expect.stringContaining('NUL character at /task/execution/env/GREETING') },
    ]);
    expect(summary).toMatchObject({ tasks: 1, runs: 1, complete: true });
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks/in-script' })).statusCode).toBe(404);
    expect((await getTask(harness.app, 'fine')).results[0]!.stdout).toBe('a\u0000b');
  });

  it('says when the body has no end line (cut off), after importing what it holds', async () => {
    const lines = await exportedAndDeleted(['one', 'two']);
    const summary = (await importBody(lines.slice(0, 2).join('\n'))).json();
    expect(summary).toMatchObject({ tasks: 1, complete: false });
  });

  it('refuses, importing nothing, a body that is not an export or is of another format version', async () => {
    const lines = await exportedAndDeleted(['x']);
    expectError(await importBody(lines.slice(1).join('\n')), 400, 'invalid_request');
    const header = { ...JSON.parse(lines[0]!), formatVersion: 2 };
    const message = expectError(await importBody([JSON.stringify(header), ...lines.slice(1)].join('\n')), 400, 'invalid_request');
    expect(message).toContain('format version 2');
    expectError(await importBody(''), 400, 'invalid_request');
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks/x' })).statusCode).toBe(404);
  });

  it('takes only NDJSON bodies, and is the only route that takes them', async () => {
    const response = await harness.app.inject({ method: 'POST', url: '/api/import', payload: { task: {} } });
    expectError(response, 415, 'unsupported_media_type');
    const submitted = await harness.app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/x-ndjson' }, body: '{"id":"x","script":"true"}' });
    expectError(submitted, 415, 'unsupported_media_type');
  });
});

describe('with a token', () => {
  it('refuses both routes without it (401), and imports nothing', async () => {
    await harness.close();
    harness = await startHarness({ token: 'sesame' });
    expectError(await harness.app.inject({ method: 'GET', url: '/api/export' }), 401, 'unauthorized');
    const lines = (await harness.app.inject({ method: 'GET', url: '/api/export', headers: { authorization: 'Bearer sesame' } })).body;
    expect(lines).toContain('"end":true');
    const body = [lines.split('\n')[0], JSON.stringify({ task: { id: 'sneaky' }, runs: [] })].join('\n');
    expectError(await importBody(body), 401, 'unauthorized');
  });
});
