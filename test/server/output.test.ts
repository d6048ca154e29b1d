/**
 * GET /api/tasks/{id}/runs/{run}/output: one stream of a run's output read from a byte
 * offset, a window at a time, for recorded runs and for a run in progress; and the engine's
 * bound on all kept output (maxOutputBytes). Real engine, real ProcessRunner (outputCap 4096:
 * the first 2048 bytes of each stream and the last 2048 are kept).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OutputJson, RunJson } from '../../src/protocol/schemas.js';
import { expectError, startHarness, submit, waitForStatus, type Harness } from './harness.js';

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

async function read(id: string, run: number, query = ''): Promise<OutputJson> {
  const response = await harness!.app.inject({ method: 'GET', url: `/api/tasks/${id}/runs/${run}/output${query}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<OutputJson>();
}

async function getRun(id: string, run: number): Promise<RunJson> {
  const response = await harness!.app.inject({ method: 'GET', url: `/api/tasks/${id}/runs/${run}` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<RunJson>();
}

/** Reads a whole stream window by window from `offset`, checking each window on the way. */
async function readAll(id: string, run: number, stream: 'stdout' | 'stderr', limit: number): Promise<{ text: string; windows: OutputJson[] }> {
  const windows: OutputJson[] = [];
  let offset = 0;
  for (;;) {
    const window = await read(id, run, `?stream=${stream}&offset=${offset}&limit=${limit}`);
    if (window.nextOffset === window.offset) {
      expect(window.text).toBe('');
      break;
    }
    expect(window.nextOffset - window.offset).toBe(Buffer.byteLength(window.text));
    expect(window.nextOffset - window.offset).toBeLessThanOrEqual(limit);
    expect(window.text).not.toContain('\uFFFD');
    windows.push(window);
    offset = window.nextOffset;
    expect(windows.length).toBeLessThan(10_000);
  }
  return { text: windows.map((window) => window.text).join(''), windows };
}

describe('GET /api/tasks/{id}/runs/{run}/output of a recorded run', () => {
  it('reads the whole stream, from an offset, page by page, and stderr', async () => {
    const h = await start();
    await submit(h.app, { id: 'rec', type: 'delay', time: '10ms', script: `printf 'line-1\\nline-2\\nline-3\\n'; printf 'oops\\n' >&2` });
    await waitForStatus(h.app, 'rec', 'Executed');
    const stdout = 'line-1\nline-2\nline-3\n';

    expect(await read('rec', 1)).toEqual({
      run: 1, stream: 'stdout', offset: 0, nextOffset: 21, skippedBytes: 0, totalBytes: 21, droppedBytes: 0, droppedAt: 0, complete: true, text: stdout,
    });
    expect(await read('rec', 1, '?offset=7')).toMatchObject({ offset: 7, nextOffset: 21, skippedBytes: 0, text: 'line-2\nline-3\n' });
    expect(await read('rec', 1, '?offset=7&limit=7')).toMatchObject({ offset: 7, nextOffset: 14, text: 'line-2\n' });
    expect(await read('rec', 1, '?stream=stderr')).toEqual({
      run: 1, stream: 'stderr', offset: 0, nextOffset: 5, skippedBytes: 0, totalBytes: 5, droppedBytes: 0, droppedAt: 0, complete: true, text: 'oops\n',
    });

    for (const limit of [4, 5, 20, 21, 1000]) {
      const { text, windows } = await readAll('rec', 1, 'stdout', limit);
      expect(text).toBe(stdout);
      expect(windows).toHaveLength(Math.ceil(21 / limit));
    }
    expect((await readAll('rec', 1, 'stderr', 4)).text).toBe('oops\n');
    // A window is at least one character of UTF-8 long.
    expectError(await harness!.app.inject({ method: 'GET', url: '/api/tasks/rec/runs/1/output?limit=3' }), 400, 'invalid_request');

    // At the end, or past it: nothing, and nothing to move on to.
    expect(await read('rec', 1, '?offset=21')).toMatchObject({ offset: 21, nextOffset: 21, skippedBytes: 0, text: '', complete: true });
    // Past the end the window begins at the end of the stream (the offset asked for is not echoed).
    expect(await read('rec', 1, '?offset=100')).toMatchObject({ offset: 21, nextOffset: 21, skippedBytes: 0, text: '' });
  });

  it('reads a head-and-tail output: an offset in the dropped bytes jumps past them, and no window spans them', async () => {
    const h = await start();
    // 10019 bytes: 2048 kept from the start, 2048 from the end, 5923 dropped between.
    await submit(h.app, { id: 'big', type: 'delay', time: '10ms', script: `printf 'HEAD-MARK'; head -c 10000 /dev/zero | tr '\\0' m; printf 'TAIL-MARK\\n'` });
    await waitForStatus(h.app, 'big', 'Executed');
    const head = `HEAD-MARK${'m'.repeat(2039)}`;
    const tail = `${'m'.repeat(2038)}TAIL-MARK\n`;
    const gap = { droppedAt: 2048, droppedBytes: 5923, totalBytes: 10_019 };

    expect(await getRun('big', 1)).toMatchObject({
      stdout: head + tail, stdoutBytes: 10_019, stdoutDroppedBytes: 5923, stdoutDroppedAt: 2048, stdoutTruncated: true, outputCap: 4096,
    });
    // From the start: the head, up to the dropped bytes and no further.
    expect(await read('big', 1)).toEqual({ run: 1, stream: 'stdout', offset: 0, nextOffset: 2048, skippedBytes: 0, complete: true, text: head, ...gap });
    // Where the head ends, or anywhere in the gap: the tail, with what was skipped.
    expect(await read('big', 1, '?offset=2048')).toEqual({ run: 1, stream: 'stdout', offset: 7971, nextOffset: 10_019, skippedBytes: 5923, complete: true, text: tail, ...gap });
    expect(await read('big', 1, '?offset=5000&limit=10')).toMatchObject({ offset: 7971, nextOffset: 7981, skippedBytes: 2971, text: 'm'.repeat(10) });
    expect(await read('big', 1, '?offset=7970')).toMatchObject({ offset: 7971, skippedBytes: 1, text: tail });
    // A window that would run into the gap stops at it.
    expect(await read('big', 1, '?offset=2000&limit=100')).toMatchObject({ offset: 2000, nextOffset: 2048, skippedBytes: 0, text: 'm'.repeat(48) });
    // In the tail, offsets are those of the stream as written.
    expect(await read('big', 1, '?offset=10009')).toMatchObject({ offset: 10_009, nextOffset: 10_019, skippedBytes: 0, text: 'TAIL-MARK\n' });

    const { text, windows } = await readAll('big', 1, 'stdout', 1000);
    expect(text).toBe(head + tail);
    for (const window of windows) expect(window.nextOffset <= 2048 || window.offset >= 7971, `window ${window.offset}-${window.nextOffset}`).toBe(true);
    expect(windows.filter((window) => window.skippedBytes > 0).map((window) => [window.offset, window.skippedBytes])).toEqual([[7971, 5923]]);
  });

  it('cuts windows at character boundaries, and keeps whole characters on both sides of the dropped bytes', async () => {
    const h = await start();
    await submit(h.app, { id: 'utf8', type: 'delay', time: '10ms', script: `printf 'aé€😀b'` });
    // 2047 bytes, then 3000 three-byte characters: the head's cap falls inside a character.
    const seam = `head -c 2047 /dev/zero | tr '\\0' a; s='€€€€€€€€€€'; for i in $(seq 300); do printf '%s' "$s"; done`;
    await submit(h.app, { id: 'seam', type: 'delay', time: '10ms', script: seam });
    await waitForStatus(h.app, 'utf8', 'Executed');
    await waitForStatus(h.app, 'seam', 'Executed');

    // 'a' 1 byte, 'é' 2, '€' 3, '😀' 4, 'b' 1.
    const { windows } = await readAll('utf8', 1, 'stdout', 4);
    expect(windows.map((window) => [window.offset, window.text])).toEqual([[0, 'aé'], [3, '€'], [6, '😀'], [10, 'b']]);
    for (const limit of [4, 5, 6, 7, 8, 11]) expect((await readAll('utf8', 1, 'stdout', limit)).text).toBe('aé€😀b');
    // A limit that ends inside a character leaves the character for the next window.
    expect(await read('utf8', 1, '?offset=1&limit=4')).toMatchObject({ offset: 1, nextOffset: 3, text: 'é' });
    expect(await read('utf8', 1, '?offset=3&limit=6')).toMatchObject({ offset: 3, nextOffset: 6, text: '€' });

    const seamRun = await getRun('seam', 1);
    // The head keeps 2047 bytes (the character across its cap is dropped), the tail 682 whole characters.
    expect(seamRun).toMatchObject({ stdoutBytes: 11_047, stdoutDroppedAt: 2047, stdoutDroppedBytes: 11_047 - 2047 - 682 * 3 });
    expect(await read('seam', 1)).toMatchObject({ offset: 0, nextOffset: 2047, text: 'a'.repeat(2047) });
    expect(await read('seam', 1, '?offset=2047')).toMatchObject({ offset: 11_047 - 682 * 3, nextOffset: 11_047, text: '€'.repeat(682) });
    expect((await readAll('seam', 1, 'stdout', 100)).text).toBe('a'.repeat(2047) + '€'.repeat(682));
  });

  it('answers 404 for an unknown run or task, and 400 for a bad query', async () => {
    const h = await start();
    await submit(h.app, { id: 'once', type: 'delay', time: '10ms', script: 'echo once' });
    await waitForStatus(h.app, 'once', 'Executed');
    const get = (url: string) => h.app.inject({ method: 'GET', url });
    expectError(await get('/api/tasks/once/runs/2/output'), 404, 'not_found');
    expectError(await get('/api/tasks/ghost/runs/1/output'), 404, 'not_found');
    for (const query of ['stream=both', 'offset=-1', 'limit=0', 'limit=abc', 'bogus=1']) {
      expectError(await get(`/api/tasks/once/runs/1/output?${query}`), 400, 'invalid_request');
    }
    expectError(await get('/api/tasks/once/runs/0/output'), 400, 'invalid_request');
  });
});

describe('GET /api/tasks/{id}/runs/{run}/output of a run in progress', () => {
  it('reads what the run has written so far, not complete, then the rest once it ends', async () => {
    const h = await start();
    await submit(h.app, {
      id: 'running',
      type: 'delay',
      time: '10ms',
      script: `printf 'part-1\\n'; printf 'warn\\n' >&2; while [ ! -e go ]; do sleep 0.01; done; printf 'part-2\\n'`,
    });
    await vi.waitFor(async () => expect((await read('running', 1, '?stream=stderr')).text).toBe('warn\n'), { timeout: 10_000, interval: 10 });
    await vi.waitFor(async () => expect((await read('running', 1)).text).toBe('part-1\n'), { timeout: 10_000, interval: 10 });

    expect(await read('running', 1)).toEqual({
      run: 1, stream: 'stdout', offset: 0, nextOffset: 7, skippedBytes: 0, totalBytes: 7, droppedBytes: 0, droppedAt: 0, complete: false, text: 'part-1\n',
    });
    expect(await read('running', 1, '?stream=stderr')).toMatchObject({ complete: false, text: 'warn\n', totalBytes: 5 });
    // Nothing more yet: the same offset again.
    expect(await read('running', 1, '?offset=7')).toMatchObject({ offset: 7, nextOffset: 7, text: '', complete: false });
    expect((await getRun('running', 1)).outcome).toBe('running');

    writeFileSync(join(h.dir, 'go'), '');
    await waitForStatus(h.app, 'running', 'Executed');
    expect(await read('running', 1, '?offset=7')).toEqual({
      run: 1, stream: 'stdout', offset: 7, nextOffset: 14, skippedBytes: 0, totalBytes: 14, droppedBytes: 0, droppedAt: 0, complete: true, text: 'part-2\n',
    });
    expect(await read('running', 1, '?stream=stderr')).toMatchObject({ complete: true, text: 'warn\n' });
  });

  it('reads the head and the tail of a long output in progress', async () => {
    const h = await start();
    const script = `printf 'HEAD'; head -c 9992 /dev/zero | tr '\\0' m; printf 'TAIL'; while [ ! -e go ]; do sleep 0.01; done; printf 'END'`;
    await submit(h.app, { id: 'long-live', type: 'delay', time: '10ms', script });
    await vi.waitFor(async () => expect((await read('long-live', 1)).totalBytes).toBe(10_000), { timeout: 10_000, interval: 10 });
    expect(await read('long-live', 1)).toMatchObject({ offset: 0, nextOffset: 2048, droppedAt: 2048, droppedBytes: 10_000 - 4096, complete: false, text: `HEAD${'m'.repeat(2044)}` });
    expect(await read('long-live', 1, '?offset=2048')).toMatchObject({ offset: 10_000 - 2048, nextOffset: 10_000, skippedBytes: 10_000 - 4096, complete: false, text: `${'m'.repeat(2044)}TAIL` });
    writeFileSync(join(h.dir, 'go'), '');
    await waitForStatus(h.app, 'long-live', 'Executed');
    expect(await read('long-live', 1, '?offset=10000')).toMatchObject({ offset: 10_000, nextOffset: 10_003, complete: true, text: 'END' });
  });
});

describe('the bound on all kept output (maxOutputBytes)', () => {
  it("drops the oldest runs' output to stay within the bound, keeping the newest", async () => {
    const maxOutputBytes = 10_000;
    const h = await start({ maxOutputBytes });
    const ids = ['old-1', 'old-2', 'new-3', 'new-4'];
    for (const id of ids) {
      // 4000 bytes each, within the per-stream cap: all of it is kept until the bound drops it.
      await submit(h.app, { id, type: 'delay', time: '10ms', script: `head -c 4000 /dev/zero | tr '\\0' a` });
      await waitForStatus(h.app, id, 'Executed');
    }
    await vi.waitFor(async () => expect(await h.store.outputBytes()).toBeLessThanOrEqual(maxOutputBytes), { timeout: 5000, interval: 10 });
    expect(await h.store.outputBytes()).toBe(8000);

    for (const id of ['old-1', 'old-2']) {
      expect(await getRun(id, 1)).toMatchObject({
        outcome: 'succeeded', stdout: '', stdoutBytes: 4000, stdoutDroppedBytes: 4000, stdoutDroppedAt: 0, stdoutTruncated: true, stderr: '', stderrBytes: 0, stderrTruncated: false,
      });
      // Read from the start, a dropped output is all gap.
      expect(await read(id, 1)).toMatchObject({ offset: 4000, nextOffset: 4000, skippedBytes: 4000, totalBytes: 4000, droppedBytes: 4000, droppedAt: 0, text: '' });
    }
    for (const id of ['new-3', 'new-4']) {
      expect(await getRun(id, 1)).toMatchObject({ stdout: 'a'.repeat(4000), stdoutBytes: 4000, stdoutDroppedBytes: 0, stdoutTruncated: false });
      expect(await read(id, 1)).toMatchObject({ offset: 0, nextOffset: 4000, skippedBytes: 0, text: 'a'.repeat(4000) });
    }
  });
});
