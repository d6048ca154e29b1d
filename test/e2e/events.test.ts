/**
 * GET /api/tasks/{id}/events, the live event stream of a task (Server-Sent Events), read
 * with node:http from a real daemon running real scripts. Each script writes on both streams
 * in steps, held at gates between them, so that "while the run is executing" is a state the
 * test holds for as long as it needs: what arrives at each step arrived before the run ended.
 */
import { beforeAll, describe, test } from 'vitest';
import { waitFor } from '../support/wait.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate, type Gate } from '../support/gate.js';
import { joinContiguous, SseClient, type OutputData } from '../support/sse-client.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  // Heartbeats every 200ms, so that the test of them need not wait 15s.
  daemon = await e2e.startDaemon({ args: ['--heartbeat', '200ms'] });
  scratch = e2e.tempDir();
});

function eventsUrl(id: string): string {
  return `${daemon.url}/api/tasks/${encodeURIComponent(id)}/events`;
}

/** Submits a delay task straight through the API (the CLI's submit is tested elsewhere). */
async function submitDelay(id: string, time: string, script: string): Promise<TaskView> {
  return (await daemon.api('POST', '/api/tasks', { id, type: 'delay', time, script })) as TaskView;
}

/** `count` closed gates named after `id`. */
function gates(id: string, count: number): Gate[] {
  return Array.from({ length: count }, (_, index) => gate(scratch, `${id}-${index}`));
}

/** The text of one stream in `chunks` (which must be contiguous from 0). */
function text(chunks: OutputData[], stream: 'stdout' | 'stderr', run = 1): string {
  return joinContiguous(chunks, run, stream);
}

/** The recorded output of a run, from the API: what the stream must add up to. */
async function recordedRun(id: string, run: number) {
  const task = await daemon.task(id);
  const result = task?.results.find((r) => r.run === run);
  if (!result) throw new Error(`task ${id} has no run ${run}: ${JSON.stringify(task)}`);
  return result;
}

/** The live output route: how many bytes of `stream` the daemon has taken from the run so far. */
async function liveBytes(id: string, run: number, stream: 'stdout' | 'stderr'): Promise<number> {
  const window = (await daemon.api('GET', `/api/tasks/${id}/runs/${run}/output?stream=${stream}&offset=0`)) as { totalBytes: number };
  return window.totalBytes;
}

/** The sequence number of an event id EPOCH-SEQ (EPOCH-SEQ.CURSOR on PostgreSQL, see docs/http-api.md). */
function seq(id: string | undefined): number {
  const match = /^([0-9a-f]+)-(\d+)(?:\.\S+)?$/.exec(id ?? '');
  if (!match) throw new Error(`"${id}" is not an event id EPOCH-SEQ`);
  return Number(match[2]);
}

describe.concurrent('the live event stream of a task', () => {
  test("a run's output arrives as it is written, in order, stdout and stderr apart, before the run ends", async ({ expect }) => {
    const id = 'live-steps';
    const [g0, g1, g2, g3] = gates(id, 4) as [Gate, Gate, Gate, Gate];
    await submitDelay(
      id,
      '1s',
      `${g0.wait}; echo out-1; echo err-1 >&2; ${g1.wait}; printf 'out-2 '; echo err-2 >&2; ${g2.wait}; echo 'out-3 ünï'; printf 'err-3 ☃' >&2; ${g3.wait}; echo out-end`,
    );
    const stream = await SseClient.open(eventsUrl(id));
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await stream.waitUntil('the snapshot', (s) => s.events.length > 0);
    expect(stream.events[0]).toMatchObject({ event: 'snapshot', data: { task: { id } } });
    // Connected before the run starts (due in 1s), or at the latest while it waits at g0.
    await stream.waitUntil('run 1 to have started', (s) => s.named('run-started').length > 0 || s.events[0]!.data.run === 1);

    const steps: Array<{ open: Gate; stdout: string; stderr: string }> = [
      { open: g0, stdout: 'out-1\n', stderr: 'err-1\n' },
      { open: g1, stdout: 'out-1\nout-2 ', stderr: 'err-1\nerr-2\n' },
      { open: g2, stdout: 'out-1\nout-2 out-3 ünï\n', stderr: 'err-1\nerr-2\nerr-3 ☃' },
    ];
    for (const step of steps) {
      step.open.open();
      await stream.waitUntil(`stdout ${JSON.stringify(step.stdout)} and stderr ${JSON.stringify(step.stderr)}`, (s) => {
        const chunks = s.output();
        return text(chunks, 'stdout') === step.stdout && text(chunks, 'stderr') === step.stderr;
      });
      // The run is held at the next gate: all of this came while it was executing.
      expect(stream.named('run-finished')).toEqual([]);
      expect((await recordedRun(id, 1)).outcome).toBe('running');
    }
    g3.open();
    await stream.waitUntil('run 1 to finish and the task to be Executed', (s) =>
      s.named('run-finished').length > 0 && s.named('status').some((e) => e.data.status === 'Executed'),
    );
    // The task is final: the daemon ends the stream.
    await stream.waitForClose();
    expect(stream.ended).toBe(true);

    const recorded = await recordedRun(id, 1);
    const chunks = stream.output();
    expect(text(chunks, 'stdout')).toBe('out-1\nout-2 out-3 ünï\nout-end\n');
    expect(text(chunks, 'stdout')).toBe(recorded.stdout);
    expect(text(chunks, 'stderr')).toBe('err-1\nerr-2\nerr-3 ☃');
    expect(text(chunks, 'stderr')).toBe(recorded.stderr);
    expect(chunks.every((chunk) => chunk.run === 1)).toBe(true);
    const finished = stream.named('run-finished')[0]!;
    expect(finished.data).toMatchObject({
      run: 1,
      outcome: 'succeeded',
      exitCode: 0,
      stdoutBytes: Buffer.byteLength(recorded.stdout),
      stderrBytes: Buffer.byteLength(recorded.stderr),
    });

    // In order: the run starts, writes, ends, and then the task is Executed.
    const names = stream.events.map((e) => e.event);
    const firstOutput = names.indexOf('output');
    const lastOutput = names.lastIndexOf('output');
    if (names.includes('run-started')) expect(names.indexOf('run-started')).toBeLessThan(firstOutput);
    expect(lastOutput).toBeLessThan(names.indexOf('run-finished'));
    expect(names.indexOf('run-finished')).toBeLessThan(names.length - 1);
    expect(stream.events.at(-1)).toMatchObject({ event: 'status', data: { status: 'Executed', previousStatus: 'Executing' } });
    // Every event after the snapshot has an id, rising.
    const ids = stream.events.slice(1).map((e) => seq(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);

    // Resuming after the last event of a final task: nothing more will come, 204; the same
    // with the id in the query string, for clients that cannot set the header.
    const again = await SseClient.open(eventsUrl(id), { lastEventId: stream.lastId() });
    await again.waitForClose();
    expect(again.status).toBe(204);
    expect(again.events).toEqual([]);
    const byQuery = await SseClient.open(`${eventsUrl(id)}?lastEventId=${encodeURIComponent(stream.lastId()!)}`);
    await byQuery.waitForClose();
    expect(byQuery.status).toBe(204);
  });

  test('cut off mid-run and resumed with Last-Event-ID: the two streams together have no gap and no duplicate', async ({ expect }) => {
    const id = 'resume';
    const [g0, g1, g2, g3] = gates(id, 4) as [Gate, Gate, Gate, Gate];
    // Several lines per step, so that a step is several chunks on a busy machine too.
    await submitDelay(
      id,
      '1s',
      `${g0.wait}; echo out-1; echo err-1 >&2; ${g1.wait}; ` +
        `for i in 1 2 3 4 5; do echo "out-2.$i"; echo "err-2.$i" >&2; done; ${g2.wait}; ` +
        `echo out-3; echo err-3 >&2; ${g3.wait}; echo out-4`,
    );
    const first = await SseClient.open(eventsUrl(id));
    await first.waitUntil('run 1 to have started', (s) => s.named('run-started').length > 0 || s.events[0]?.data.run === 1);
    g0.open();
    await first.waitUntil('the first step on both streams', (s) => text(s.output(), 'stdout') === 'out-1\n' && text(s.output(), 'stderr') === 'err-1\n');
    const lastSeen = first.lastId();
    expect(lastSeen).toBeDefined();
    await first.close();
    expect(first.ended).toBe(false); // cut, not ended by the daemon

    // While nobody is connected, the script writes the second step.
    g1.open();
    const out2 = 'out-1\n' + [1, 2, 3, 4, 5].map((i) => `out-2.${i}\n`).join('');
    const err2 = 'err-1\n' + [1, 2, 3, 4, 5].map((i) => `err-2.${i}\n`).join('');
    await waitFor('the daemon to have taken the second step of both streams', async () =>
      (await liveBytes(id, 1, 'stdout')) === out2.length && (await liveBytes(id, 1, 'stderr')) === err2.length,
    );
    expect((await recordedRun(id, 1)).outcome).toBe('running');

    const second = await SseClient.open(eventsUrl(id), { lastEventId: lastSeen });
    expect(second.status).toBe(200);
    // Resumed: what was missed comes first, without a snapshot or a `pruned`.
    await second.waitUntil('the missed second step', (s) =>
      text([...first.output(), ...s.output()], 'stdout') === out2 && text([...first.output(), ...s.output()], 'stderr') === err2,
    );
    g2.open();
    await second.waitUntil('the third step, live', (s) => text([...first.output(), ...s.output()], 'stdout') === `${out2}out-3\n`);
    g3.open();
    await second.waitUntil('the end of the run', (s) => s.named('run-finished').length > 0);
    await second.waitForClose();

    expect(second.named('snapshot')).toEqual([]);
    expect(second.named('pruned')).toEqual([]);
    // It begins with the first chunk the first stream did not get.
    expect(second.events[0]).toMatchObject({ event: 'output' });
    expect([{ stream: 'stdout', offset: 'out-1\n'.length }, { stream: 'stderr', offset: 'err-1\n'.length }]).toContainEqual({
      stream: second.events[0]!.data.stream,
      offset: second.events[0]!.data.offset,
    });
    expect(seq(second.events[0]!.id)).toBeGreaterThan(seq(lastSeen));
    const union = [...first.output(), ...second.output()];
    const recorded = await recordedRun(id, 1);
    expect(recorded.outcome).toBe('succeeded');
    // joinContiguous fails on a gap or an overlap: offsets follow on exactly, per stream.
    expect(text(union, 'stdout')).toBe(`${out2}out-3\nout-4\n`);
    expect(text(union, 'stdout')).toBe(recorded.stdout);
    expect(text(union, 'stderr')).toBe(`${err2}err-3\n`);
    expect(text(union, 'stderr')).toBe(recorded.stderr);
    const ids = [...first.events.slice(1), ...second.events].map((e) => seq(e.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  test('a Last-Event-ID the daemon cannot resume from: `pruned` says why, then a snapshot with the output so far, then live', async ({ expect }) => {
    const id = 'start-over';
    const [g0] = gates(id, 1) as [Gate];
    await submitDelay(id, '100ms', `echo before; echo early >&2; ${g0.wait}; echo after`);
    await waitFor('the run to have written its first lines', async () =>
      (await liveBytes(id, 1, 'stdout')) === 'before\n'.length && (await liveBytes(id, 1, 'stderr')) === 'early\n'.length,
    );
    // An id as an earlier run of the daemon would have given: a real one, with another epoch.
    const peek = await SseClient.open(eventsUrl(id));
    await peek.waitUntil('the snapshot', (s) => s.events.length > 0);
    await peek.close();
    const [epoch, number] = peek.events[0]!.id!.split('-') as [string, string];
    const stale = `${epoch === 'ffffffff' ? '00000000' : 'ffffffff'}-${number}`;
    const stream = await SseClient.open(eventsUrl(id), { lastEventId: stale });
    await stream.waitUntil('the output so far', (s) => text(s.output(), 'stdout') === 'before\n' && text(s.output(), 'stderr') === 'early\n');
    expect(stream.events[0]).toMatchObject({ event: 'pruned', data: { lastEventId: stale } });
    expect(stream.events[0]!.data.reason).toMatch(/restarted/);
    expect(stream.events[1]).toMatchObject({ event: 'snapshot', data: { run: 1, task: { id, status: 'Executing' } } });
    g0.open();
    await stream.waitUntil('the end of the run', (s) => s.named('run-finished').length > 0);
    await stream.waitForClose();
    expect(text(stream.output(), 'stdout')).toBe('before\nafter\n');
    expect(text(stream.output(), 'stdout')).toBe((await recordedRun(id, 1)).stdout);

    // A malformed id: the same, on a task that is already final (snapshot, then the end).
    const malformed = await SseClient.open(eventsUrl(id), { lastEventId: 'not-an-id' });
    await malformed.waitForClose();
    expect(malformed.events.map((e) => e.event)).toEqual(['pruned', 'snapshot']);
    expect(malformed.events[0]!.data.reason).toMatch(/not an event id/);
    expect(malformed.events[1]!.data).toMatchObject({ run: null, task: { status: 'Executed' } });
  });

  test('resumed after more output than the daemon retains: `pruned`, then a snapshot with the kept head and tail at their offsets, then live', async ({ expect }) => {
    const id = 'resume-too-late';
    const [g0, g1, g2] = gates(id, 3) as [Gate, Gate, Gate];
    // 3MB while nobody is connected: more than the 1MiB of events retained per task.
    await submitDelay(id, '1s', `${g0.wait}; echo a; ${g1.wait}; head -c 3000000 /dev/zero | tr '\\0' y; echo; ${g2.wait}; echo end`);
    const first = await SseClient.open(eventsUrl(id));
    g0.open();
    await first.waitUntil('the first line', (s) => text(s.output(), 'stdout') === 'a\n');
    await first.close();
    g1.open();
    const written = 2 + 3_000_000 + 1;
    await waitFor('the daemon to have taken the 3MB', async () => (await liveBytes(id, 1, 'stdout')) === written);

    const second = await SseClient.open(eventsUrl(id), { lastEventId: first.lastId() });
    await second.waitUntil('the snapshot and the output so far', (s) => s.output().length >= 2);
    expect(second.events[0]).toMatchObject({ event: 'pruned', data: { lastEventId: first.lastId() } });
    expect(second.events[0]!.data.reason).toMatch(/no longer retained/);
    expect(second.events[1]).toMatchObject({ event: 'snapshot', data: { run: 1 } });
    g2.open();
    await second.waitUntil('the end of the run', (s) => s.named('run-finished').length > 0);
    await second.waitForClose();

    const recorded = await recordedRun(id, 1);
    const total = written + 'end\n'.length;
    const keptHead = recorded.stdoutDroppedAt;
    expect(recorded).toMatchObject({ stdoutBytes: total, stdoutDroppedBytes: total - 1024 * 1024, stdoutDroppedAt: 512 * 1024 });
    // The head from 0, then the tail that was kept when the client came back, then the rest live.
    const chunks = second.output().filter((c) => c.stream === 'stdout');
    expect(chunks[0]).toMatchObject({ offset: 0, bytes: keptHead });
    expect(chunks[1]!.offset).toBeGreaterThan(keptHead);
    const tailStart = chunks[1]!.offset;
    const tail = joinContiguous(chunks.slice(1).map((c) => ({ ...c, offset: c.offset - tailStart })), 1, 'stdout');
    expect(chunks[0]!.text + tail).toBe(`a\n${'y'.repeat(keptHead - 2)}${'y'.repeat(written - 1 - tailStart)}\nend\n`);
    // What it missed (and the daemon dropped from the middle) is counted: the recorded head
    // and tail are what it got, less the tail's start that has since been pushed out.
    expect(recorded.stdout.startsWith(chunks[0]!.text)).toBe(true);
    expect(tail.endsWith(recorded.stdout.slice(keptHead))).toBe(true);
  });

  test('an idle stream gets keep-alive comments every --heartbeat; a deleted task ends its stream with `deleted`', async ({ expect }) => {
    const id = 'idle';
    await submitDelay(id, '1h', 'true');
    const stream = await SseClient.open(eventsUrl(id));
    await stream.waitUntil('two heartbeats', (s) => s.comments.filter((c) => c.trim() === 'keep-alive').length >= 2);
    expect(stream.events.map((e) => e.event)).toEqual(['snapshot']);
    expect(stream.closed).toBe(false);
    await daemon.api('DELETE', `/api/tasks/${id}`);
    await stream.waitForClose();
    expect(stream.ended).toBe(true);
    expect(stream.events.map((e) => e.event)).toEqual(['snapshot', 'deleted']);
    expect(stream.events[1]!.data).toEqual({ id });
  });

  test('the stream of an unknown task: 404 not_found', async ({ expect }) => {
    const stream = await SseClient.open(eventsUrl('nobody-here'));
    await stream.waitForClose();
    expect(stream.status).toBe(404);
    expect(JSON.parse(stream.body)).toMatchObject({ error: { code: 'not_found' } });
  });
});
