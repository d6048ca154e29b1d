/**
 * GET /api/tasks/{id}/events, the live event stream (Server-Sent Events), over a listening
 * app, a real engine and the real ProcessRunner. Scripts that must hold in the middle of a
 * run wait for a file the test creates in the harness directory (their working directory).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { TaskJson } from '../../src/protocol/schemas.js';
import { expectError, getTask, isoTime, startHarness, submit, waitForStatus, type Harness, type HarnessOptions } from './harness.js';
import { outputOf, seqOf, SseClient, type SseEvent, type SseOptions } from '../support/sse-client.js';
import { ManualLauncher } from './manual-launcher.js';
import { FakeClock } from '../support/fake-clock.js';

let harness: Harness | undefined;
let clients: SseClient[] = [];

afterEach(async () => {
  // A paused client would hold the server's close up: drop every connection first.
  for (const client of clients) client.close();
  clients = [];
  await harness?.close();
  harness = undefined;
});

async function start(options: HarnessOptions = {}): Promise<Harness> {
  harness = await startHarness(options);
  await harness.app.listen({ port: 0, host: '127.0.0.1' });
  return harness;
}

async function open(path: string, options?: SseOptions): Promise<SseClient> {
  const client = await SseClient.open(harness!.app, path, options);
  clients.push(client);
  return client;
}

/** Lets a script waiting for `name` go on. */
function touch(name: string): void {
  writeFileSync(join(harness!.dir, name), '');
}

/** Waits for the file `name` in the script's working directory. */
const hold = (name: string) => `while [ ! -e ${name} ]; do sleep 0.01; done`;

/**
 * A script that prints `step-1` to `step-n`, each only once the test has created the file
 * `s1` .. `sn`: every step is a chunk of its own, written after the test saw the one before.
 */
const steps = (n: number) => Array.from({ length: n }, (_, i) => `${hold(`s${i + 1}`)}; printf 'step-${i + 1}\\n'`).join('; ');

/** Lets the steps of a `steps` script run one by one, each once `client` has received the one before. */
async function runSteps(client: SseClient, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    touch(`s${i}`);
    await client.waitUntil(`step-${i}`, () => outputOf(client.events, 'stdout').text.endsWith(`step-${i}\n`));
  }
}

/** What two clients must agree on for an event. */
const comparable = (events: SseEvent[]) => events.map(({ id, event, data }) => ({ id, event, data }));

/** The task without its results, as a snapshot carries it. */
function summaryOf(task: TaskJson): Omit<TaskJson, 'results'> {
  const { results: _results, ...summary } = task;
  return summary;
}

/** An answer received over HTTP, in the shape expectError reads. */
function asInjected(client: SseClient): LightMyRequestResponse {
  return { statusCode: client.status, headers: client.headers, body: client.body, json: () => JSON.parse(client.body) } as unknown as LightMyRequestResponse;
}

function expectIdsIncreasing(events: SseEvent[], epoch: string): void {
  const seqs = events.map((event) => {
    expect(event.id, `${event.event} has an id`).toMatch(new RegExp(`^${epoch}-\\d+$`));
    return seqOf(event.id);
  });
  for (let i = 1; i < seqs.length; i++) expect(seqs[i], `id of event ${i} (${events[i]!.event})`).toBeGreaterThan(seqs[i - 1]!);
}

describe('a fresh stream', () => {
  it('follows a run: snapshot, status, run-started, output as it is written, run-finished, status, then ends', async () => {
    // The engine's clock moves only when the test says: the run cannot start before the
    // snapshot is read, however slow the machine (the run's own times come from the real clock).
    const clock = new FakeClock(Date.now());
    const h = await start({ clock });
    const script = `printf 'out-1\\n'; printf 'err-1\\n' >&2; ${hold('release')}; printf 'out-2\\n'; printf 'err-2\\n' >&2; exit 3`;
    await submit(h.app, { id: 'live', type: 'delay', time: '600ms', script });
    const client = await open('/api/tasks/live/events');
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(client.headers['cache-control']).toBe('no-cache');

    const snapshot = await client.waitForEvent('snapshot');
    expect(client.events[0]).toBe(snapshot);
    expect(snapshot.data.run).toBeNull();
    expect(snapshot.data.task).toEqual(summaryOf(await getTask(h.app, 'live')));
    expect(snapshot.data.task).toMatchObject({ id: 'live', type: 'delay', time: '600ms', script, status: 'ToBeExecuted', version: 1, stopRequested: false });
    expect(client.retry).toBe(1000);
    expect(client.named('status')).toEqual([]);
    clock.advance(600);

    // The first chunks arrive while the script is held: they are sent as written, not at the end.
    await client.waitUntil(
      'the output written before the hold',
      () => outputOf(client.events, 'stdout').text === 'out-1\n' && outputOf(client.events, 'stderr').text === 'err-1\n',
    );
    expect(client.named('run-finished')).toEqual([]);
    expect((await getTask(h.app, 'live')).status).toBe('Executing');
    touch('release');

    expect(await client.waitForClose()).toEqual({ ended: true, complete: true });
    const names = client.events.map((event) => event.event);
    const nonOutput = names.filter((name) => name !== 'output');
    expect(nonOutput).toEqual(['snapshot', 'status', 'run-started', 'run-finished', 'status']);
    // Every chunk comes between the start of the run and its end.
    const outputIndexes = names.flatMap((name, index) => (name === 'output' ? [index] : []));
    expect(outputIndexes.length).toBeGreaterThanOrEqual(4);
    expect(Math.min(...outputIndexes)).toBeGreaterThan(names.indexOf('run-started'));
    expect(Math.max(...outputIndexes)).toBeLessThan(names.indexOf('run-finished'));
    for (const { data } of client.named('output')) {
      expect(data.run).toBe(1);
      expect(data.at).toMatch(isoTime);
    }
    // Each stream apart, in order, contiguous from offset 0 (outputOf checks the offsets).
    expect(outputOf(client.events, 'stdout')).toMatchObject({ text: 'out-1\nout-2\n', start: 0, end: 12 });
    expect(outputOf(client.events, 'stderr')).toMatchObject({ text: 'err-1\nerr-2\n', start: 0, end: 12 });

    const [executing, executed] = client.named('status');
    expect(executing!.data).toMatchObject({ status: 'Executing', previousStatus: 'ToBeExecuted', version: 2, stopRequested: false, nextRunAt: null });
    expect(executing!.data.lastStatusUpdated).toMatch(isoTime);
    const started = client.named('run-started')[0]!.data;
    // attempt: 1, the first attempt at this fire (no retries here).
    expect(started).toEqual({ run: 1, scheduledAt: expect.stringMatching(isoTime), startedAt: expect.stringMatching(isoTime), attempt: 1 });
    expect(client.named('run-finished')[0]!.data).toMatchObject({ run: 1, outcome: 'failed', exitCode: 3, signal: null, stdoutBytes: 12, stderrBytes: 12 });
    expect(client.named('run-finished')[0]!.data.finishedAt).toMatch(isoTime);
    expect(executed!.data).toMatchObject({ status: 'Executed', previousStatus: 'Executing', version: 3, nextRunAt: null });

    expectIdsIncreasing(client.events, h.events.epoch);
    const task = await getTask(h.app, 'live');
    expect(task.results[0]).toMatchObject({ stdout: 'out-1\nout-2\n', stderr: 'err-1\nerr-2\n', exitCode: 3 });
    await vi.waitFor(() => expect(h.events.watchers).toBe(0));
  });

  it('sends the output a run has written so far right after the snapshot, then the rest live, without duplicates', async () => {
    const h = await start();
    await submit(h.app, { id: 'midway', type: 'delay', time: '10ms', script: `printf 'a1\\n'; printf 'b1\\n' >&2; ${hold('go')}; printf 'a2\\n'; printf 'b2\\n' >&2` });
    // The run has written its first lines (the output route reads what the engine holds).
    await vi.waitFor(async () => {
      const stdout = await h.app.inject({ method: 'GET', url: '/api/tasks/midway/runs/1/output?stream=stdout' });
      const stderr = await h.app.inject({ method: 'GET', url: '/api/tasks/midway/runs/1/output?stream=stderr' });
      expect([stdout.json<{ text: string }>().text, stderr.json<{ text: string }>().text]).toEqual(['a1\n', 'b1\n']);
    }, { timeout: 10_000, interval: 10 });

    const client = await open('/api/tasks/midway/events');
    await client.waitUntil('the snapshot and the output so far', () => client.events.length >= 3);
    const [snapshot, ...replay] = client.events.slice(0, 3);
    expect(snapshot!.event).toBe('snapshot');
    expect(snapshot!.data).toMatchObject({ run: 1, task: { id: 'midway', status: 'Executing', version: 2 } });
    // The replay has no ids: it is not part of what a resume can ask for again.
    expect(replay.map(({ id, event, data }) => ({ id, event, data }))).toEqual([
      { id: undefined, event: 'output', data: { run: 1, stream: 'stdout', offset: 0, bytes: 3, at: expect.stringMatching(isoTime), text: 'a1\n' } },
      { id: undefined, event: 'output', data: { run: 1, stream: 'stderr', offset: 0, bytes: 3, at: expect.stringMatching(isoTime), text: 'b1\n' } },
    ]);

    touch('go');
    await client.waitForClose();
    expect(outputOf(client.events, 'stdout')).toMatchObject({ text: 'a1\na2\n', start: 0, end: 6 });
    expect(outputOf(client.events, 'stderr')).toMatchObject({ text: 'b1\nb2\n', start: 0, end: 6 });
    expect(client.events.filter((event) => event.event !== 'output').map((event) => event.event)).toEqual(['snapshot', 'run-finished', 'status']);
    expectIdsIncreasing(client.events.filter((event) => !replay.includes(event)), h.events.epoch);
  });

  it('sends the head and the tail of a long output so far, at their offsets, then goes on from the end', async () => {
    const h = await start();
    // 10000 bytes before the hold: 2048 kept from the start, 2048 from the end (outputCap 4096).
    const script = `printf 'HEAD'; head -c 9992 /dev/zero | tr '\\0' m; printf 'TAIL'; ${hold('go')}; printf 'after'`;
    await submit(h.app, { id: 'long', type: 'delay', time: '10ms', script });
    await vi.waitFor(async () => {
      const window = (await h.app.inject({ method: 'GET', url: '/api/tasks/long/runs/1/output' })).json<{ totalBytes: number }>();
      expect(window.totalBytes).toBe(10_000);
    }, { timeout: 10_000, interval: 10 });

    const client = await open('/api/tasks/long/events');
    await client.waitUntil('the snapshot and the output so far', () => client.events.length >= 3);
    const replay = client.events.slice(1, 3) as Array<SseEvent<'output'>>;
    expect(replay.map((event) => [event.id, event.data.stream, event.data.offset, event.data.bytes])).toEqual([
      [undefined, 'stdout', 0, 2048],
      [undefined, 'stdout', 10_000 - 2048, 2048],
    ]);
    expect(replay[0]!.data.text).toBe(`HEAD${'m'.repeat(2044)}`);
    expect(replay[1]!.data.text).toBe(`${'m'.repeat(2044)}TAIL`);

    touch('go');
    await client.waitForClose();
    const live = client.named('output').slice(2);
    expect(live.map((event) => event.data.offset)).toEqual([10_000]);
    expect(live[0]!.data.text).toBe('after');
    expect(client.named('run-finished')[0]!.data).toMatchObject({ stdoutBytes: 10_005 });
  });

  it('sends keep-alive comments on an idle stream', async () => {
    const h = await start({ events: { heartbeatMs: 50 } });
    await submit(h.app, { id: 'idle', time: '1h' });
    const client = await open('/api/tasks/idle/events');
    await client.waitUntil('three keep-alive comments', () => client.comments.filter((comment) => comment === 'keep-alive').length >= 3);
    expect(client.events.map((event) => event.event)).toEqual(['snapshot']);
    expect(client.closed).toBe(false);
    expect(h.events.watchers).toBe(1);
  });
});

describe('resuming with Last-Event-ID', () => {
  it('sends exactly the events missed while disconnected, then goes on live', async () => {
    const h = await start();
    const script = `printf 'step-1\\n'; ${hold('go2')}; printf 'step-2\\n' >&2; ${hold('go3')}; printf 'step-3\\n'`;
    await submit(h.app, { id: 'resume', type: 'delay', time: '10ms', script });
    const steady = await open('/api/tasks/resume/events');
    const first = await open('/api/tasks/resume/events');
    await first.waitUntil('step-1', () => outputOf(first.events, 'stdout').text === 'step-1\n');
    const lastId = first.events.filter((event) => event.id !== undefined).at(-1)!.id!;
    first.close();
    await vi.waitFor(() => expect(h.events.watchers).toBe(1));

    // Missed: the run goes on while the client is away.
    touch('go2');
    await steady.waitUntil('step-2', () => outputOf(steady.events, 'stderr').text === 'step-2\n');
    const again = await open('/api/tasks/resume/events', { lastEventId: lastId });
    expect(again.status).toBe(200);
    await again.waitUntil('step-2 on the resumed stream', () => outputOf(again.events, 'stderr').text === 'step-2\n');
    expect(again.named('snapshot')).toEqual([]);
    expect(again.named('pruned')).toEqual([]);
    touch('go3');
    await Promise.all([steady.waitForClose(), again.waitForClose()]);

    // Exactly what a client connected throughout received after that id: no gap, no duplicate.
    const lastSeq = seqOf(lastId);
    const expected = steady.events.filter((event) => event.id !== undefined && seqOf(event.id) > lastSeq);
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(comparable(again.events)).toEqual(comparable(expected));
    // And both connections together saw every event after the first one's snapshot, once.
    const firstSnapshotSeq = seqOf(first.events[0]!.id);
    const joined = [...first.events.slice(1).filter((event) => event.id !== undefined), ...again.events];
    expect(comparable(joined)).toEqual(comparable(steady.events.filter((event) => event.id !== undefined && seqOf(event.id) > firstSnapshotSeq)));
    expect(outputOf(again.events, 'stdout').text).toBe('step-3\n');
  });

  it('takes the id from ?lastEventId= as from the header', async () => {
    const h = await start();
    await submit(h.app, { id: 'query', type: 'delay', time: '10ms', script: steps(2) });
    const watcher = await open('/api/tasks/query/events');
    await watcher.waitForEvent('snapshot');
    await runSteps(watcher, 2);
    await watcher.waitForClose();
    const withIds = watcher.events.filter((event) => event.id !== undefined);
    expect(withIds.length).toBeGreaterThanOrEqual(5);
    for (const from of [withIds[0]!, withIds[1]!, withIds.at(-2)!]) {
      const byQuery = await open(`/api/tasks/query/events?lastEventId=${encodeURIComponent(from.id!)}`);
      const byHeader = await open('/api/tasks/query/events', { lastEventId: from.id });
      await Promise.all([byQuery.waitForClose(), byHeader.waitForClose()]);
      expect(byQuery.status).toBe(200);
      expect(comparable(byQuery.events)).toEqual(comparable(watcher.after(from.id!)));
      expect(comparable(byHeader.events)).toEqual(comparable(byQuery.events));
    }
    expect(h.events.watchers).toBe(0);
  });

  it('answers pruned, then a fresh snapshot, when the events after the id are no longer all retained', async () => {
    const h = await start({ events: { maxEventsPerTask: 3 } });
    await submit(h.app, { id: 'pruned', type: 'delay', time: '10ms', script: steps(4) });
    const watcher = await open('/api/tasks/pruned/events');
    await watcher.waitForEvent('snapshot');
    await runSteps(watcher, 4);
    await watcher.waitForClose();
    // Four chunks, run-finished and status at least, each with its id.
    const withIds = watcher.events.filter((event) => event.id !== undefined && event.event !== 'snapshot');
    expect(withIds.length).toBeGreaterThanOrEqual(6);

    // The last three are retained: resuming after the fourth from the end is whole.
    const whole = await open('/api/tasks/pruned/events', { lastEventId: withIds.at(-4)!.id });
    await whole.waitForClose();
    expect(comparable(whole.events)).toEqual(comparable(withIds.slice(-3)));

    // One further back, one event would be missing.
    const expectPruned = async (lastEventId: string, reason: RegExp, query = false) => {
      const client = query
        ? await open(`/api/tasks/pruned/events?lastEventId=${encodeURIComponent(lastEventId)}`)
        : await open('/api/tasks/pruned/events', { lastEventId });
      expect(client.status).toBe(200);
      expect(await client.waitForClose()).toEqual({ ended: true, complete: true });
      expect(client.events.map((event) => [event.event, event.id])).toEqual([
        ['pruned', undefined],
        ['snapshot', expect.stringMatching(new RegExp(`^${h.events.epoch}-\\d+$`))],
      ]);
      expect(client.events[0]!.data).toEqual({ lastEventId, reason: expect.stringMatching(reason) });
      expect(client.events[1]!.data).toEqual({ task: summaryOf(await getTask(h.app, 'pruned')), run: null, runs: [] });
      // The snapshot's id resumes: nothing is left to send.
      const after = await open('/api/tasks/pruned/events', { lastEventId: client.events[1]!.id });
      expect(after.status).toBe(204);
    };
    await expectPruned(withIds.at(-5)!.id!, /no longer retained/);
    await expectPruned(withIds[0]!.id!, /no longer retained/, true);
    await expectPruned('garbage', /not an event id/);
    await expectPruned(`${h.events.epoch}-999999999`, /not an event id/);
    const otherEpoch = h.events.epoch === 'deadbeef' ? 'feedface' : 'deadbeef';
    await expectPruned(`${otherEpoch}-1`, /restarted/);
  });

  it('answers pruned once nobody has watched the task for retainMs and its events were let go', async () => {
    // The hub's clock moves only when the test says: the channel cannot be let go before the
    // test has seen what it retains, however slow the machine.
    let hubNow = Date.now();
    const h = await start({ events: { retainMs: 50, heartbeatMs: 20, now: () => hubNow } });
    await submit(h.app, { id: 'forgotten', type: 'delay', time: '10ms', script: steps(1) });
    const watcher = await open('/api/tasks/forgotten/events');
    await watcher.waitForEvent('snapshot');
    await runSteps(watcher, 1);
    await watcher.waitForClose();
    const last = watcher.events.at(-1)!;
    expect(last.data).toMatchObject({ status: 'Executed' });
    expect(h.events.retainedBytes).toBeGreaterThan(0);
    await vi.waitFor(() => expect(h.events.watchers).toBe(0)); // the server has seen the stream close
    expect(h.events.retainedBytes).toBeGreaterThan(0);
    hubNow += 51;
    // The idle channel goes with a later heartbeat: what it retained is no longer counted.
    await vi.waitFor(() => expect(h.events.retainedBytes).toBe(0), { timeout: 5000, interval: 10 });
    const first = watcher.events[1]!;
    expect(first.id).toBeDefined();
    const resumed = await open('/api/tasks/forgotten/events', { lastEventId: first.id });
    await resumed.waitForClose();
    expect(resumed.events.map((event) => event.event)).toEqual(['pruned', 'snapshot']);
    expect(resumed.events[0]!.data).toMatchObject({ reason: expect.stringMatching(/no longer retained/) });
    expect(resumed.events[1]!.data).toMatchObject({ task: { id: 'forgotten', status: 'Executed' } });
  });

  it('answers 204 when the task is final and the client has seen everything', async () => {
    const h = await start();
    await submit(h.app, { id: 'done', type: 'delay', time: '10ms', script: steps(1) });
    const watcher = await open('/api/tasks/done/events');
    await watcher.waitForEvent('snapshot');
    await runSteps(watcher, 1);
    await watcher.waitForClose();
    const last = watcher.events.at(-1)!;
    expect(last.data).toMatchObject({ status: 'Executed' });
    const byHeader = await open('/api/tasks/done/events', { lastEventId: last.id });
    const byQuery = await open(`/api/tasks/done/events?lastEventId=${encodeURIComponent(last.id!)}`);
    for (const again of [byHeader, byQuery]) {
      await again.waitForClose();
      expect(again.status).toBe(204);
      expect(again.body).toBe('');
      expect(again.events).toEqual([]);
    }
    // An id before the last event is not the end: the last event comes again.
    const before = await open('/api/tasks/done/events', { lastEventId: watcher.events.at(-2)!.id });
    await before.waitForClose();
    expect(comparable(before.events)).toEqual(comparable([last]));

    // A fresh stream on a final task: the snapshot, then the end; its id answers 204.
    await submit(h.app, { id: 'halted', time: '1h' });
    expect((await h.app.inject({ method: 'PUT', url: '/api/tasks/halted' })).statusCode).toBe(200);
    const fresh = await open('/api/tasks/halted/events');
    expect(await fresh.waitForClose()).toEqual({ ended: true, complete: true });
    expect(fresh.events.map((event) => event.event)).toEqual(['snapshot']);
    expect(fresh.events[0]!.data).toMatchObject({ task: { id: 'halted', status: 'Stopped' }, run: null });
    const resumed = await open('/api/tasks/halted/events', { lastEventId: fresh.events[0]!.id });
    expect(resumed.status).toBe(204);
    expect(h.events.watchers).toBe(0);
  });
});

describe('bounds', () => {
  it('cuts off a client that does not read, while one that reads gets everything, and the daemon stays responsive', async () => {
    // A MiB, so 8 MiB at once (burstFactor): the reader, which reads in this process between the
    // daemon's writes, falls behind by bursts; the flood of 20 MB is far more than the paused one holds.
    const h = await start({ events: { maxQueuedBytesPerClient: 1024 * 1024 } });
    // The run holds after the flood, so that the reader's stream cannot have ended when the slow one is cut.
    const script = `${hold('go')}; head -c 20000000 /dev/zero | tr '\\0' x; echo; ${hold('finish')}; echo done`;
    await submit(h.app, { id: 'flood', type: 'delay', time: '10ms', script });
    await waitForStatus(h.app, 'flood', 'Executing');
    const slow = await open('/api/tasks/flood/events', { dropOutputText: true });
    const reader = await open('/api/tasks/flood/events', { dropOutputText: true });
    await slow.waitForEvent('snapshot');
    slow.pause();
    await reader.waitForEvent('snapshot');
    expect(h.events.watchers).toBe(2);

    touch('go');
    await vi.waitFor(() => expect(h.events.watchers).toBe(1), { timeout: 10_000, interval: 5 });
    expect((await h.app.inject({ method: 'GET', url: '/api/tasks/flood' })).statusCode).toBe(200);
    await reader.waitUntil('the whole flood', () => outputOf(reader.events, 'stdout').end === 20_000_001, 20_000);
    expect(reader.closed).toBe(false);
    expect(h.events.watchers).toBe(1);
    touch('finish');

    const finished = await reader.waitForEvent('run-finished', undefined, { timeoutMs: 20_000 });
    expect(finished.data).toMatchObject({ outcome: 'succeeded', stdoutBytes: 20_000_006 });
    expect(await reader.waitForClose()).toEqual({ ended: true, complete: true });
    expect(outputOf(reader.events, 'stdout')).toMatchObject({ start: 0, end: 20_000_006 });
    await vi.waitFor(() => expect(h.events.watchers).toBe(0));

    // The slow client, reading at last, finds its stream cut short: no run-finished, part of
    // the output. (The stream's end is the connection's: a client learns it was cut off, not
    // ended, when it reconnects and resumes.)
    slow.resume();
    await slow.waitForClose();
    expect(slow.named('run-finished')).toEqual([]);
    expect(outputOf(slow.events, 'stdout').end).toBeLessThan(20_000_006);
    expect((await getTask(h.app, 'flood')).status).toBe('Executed');
  });

  it('keeps the bytes retained by all streams within maxBytesTotal while tasks print megabytes', async () => {
    const maxBytesTotal = 200_000;
    // Output comes in frames of up to 64 KiB: each task may keep two of them, three tasks more than the total allows.
    const h = await start({ events: { maxBytesTotal, maxBytesPerTask: 150_000 } });
    const ids = ['mem-1', 'mem-2', 'mem-3'];
    for (const id of ids) {
      await submit(h.app, { id, type: 'delay', time: '10ms', script: `${hold('go')}; head -c 3000000 /dev/zero | tr '\\0' m` });
    }
    for (const id of ids) await waitForStatus(h.app, id, 'Executing');
    let most = 0;
    const watchers = await Promise.all(ids.map((id) => open(`/api/tasks/${id}/events`, { dropOutputText: true })));
    for (const watcher of watchers) {
      await watcher.waitForEvent('snapshot');
      watcher.onEvent = () => {
        most = Math.max(most, h.events.retainedBytes);
      };
    }
    touch('go');
    await Promise.all(watchers.map((watcher) => watcher.waitForClose(20_000)));
    for (const watcher of watchers) {
      // The bound is on what is retained for resuming, not on what is sent live.
      expect(outputOf(watcher.events, 'stdout')).toMatchObject({ start: 0, end: 3_000_000 });
      expect(watcher.named('run-finished')).toHaveLength(1);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(maxBytesTotal);
    expect(h.events.retainedBytes).toBeLessThanOrEqual(maxBytesTotal);

    // What was let go cannot be resumed from.
    const early = watchers[0]!.named('output')[0]!;
    const resumed = await open(`/api/tasks/${ids[0]}/events`, { lastEventId: early.id });
    await resumed.waitForClose();
    expect(resumed.events.map((event) => event.event)).toEqual(['pruned', 'snapshot']);
  });
});

describe('many watchers', () => {
  it('sends one run-started, serialised once, to a thousand watchers of a task', async () => {
    const h = await start();
    // A cron task whose first run holds: the thousand connect while it executes; the next
    // run, after the hold, starts with every one of them watching.
    await submit(h.app, { id: 'crowd', type: 'cron', time: '300ms', script: hold('go') });
    await waitForStatus(h.app, 'crowd', 'Executing');
    const watchers: SseClient[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => open('/api/tasks/crowd/events')));
      await Promise.all(opened.map((client) => client.waitForEvent('snapshot')));
      watchers.push(...opened);
    }
    expect(watchers.every((client) => client.status === 200)).toBe(true);
    expect(h.events.watchers).toBe(1000);

    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      touch('go');
      const received = await Promise.all(watchers.map((client) => client.waitForEvent('run-started', (data) => data.run > 1)));
      const first = received[0]!;
      expect(first.id).toMatch(new RegExp(`^${h.events.epoch}-\\d+$`));
      for (const event of received) {
        expect(event.id).toBe(first.id);
        expect(event.raw).toBe(first.raw);
      }
      const serialised = stringify.mock.calls.filter(([value]) => value === first.data || (typeof value === 'object' && value !== null && 'startedAt' in value && (value as { run?: number }).run === first.data.run));
      expect(serialised).toHaveLength(1);
    } finally {
      stringify.mockRestore();
    }

    expect((await h.app.inject({ method: 'PUT', url: '/api/tasks/crowd' })).statusCode).toBe(200);
    await waitForStatus(h.app, 'crowd', 'Stopped');
    await Promise.all(watchers.map((client) => client.waitForClose()));
    expect(watchers.every((client) => client.ended)).toBe(true);
    await vi.waitFor(() => expect(h.events.watchers).toBe(0));
  });
});

/** The hub's helper thread sharing the writes of each fan-out from the second watcher on (parallel-writes.ts). */
const withHelper = { minSockets: 2, waitMs: 10_000 };

describe.each([
  ['by the main thread', undefined],
  ['with a helper thread sharing the writes', withHelper],
])('fan-out, %s', (_mode, parallelWrites) => {
  const events = parallelWrites === undefined ? {} : { parallelWrites };

  it('sends every watcher the same bytes for each change, in the order of their ids', async () => {
    const h = await start({ events });
    const script = `${hold('go')}; printf 'out\\n'; printf 'err\\n' >&2; exit 2`;
    await submit(h.app, { id: 'alike', type: 'delay', time: '10ms', script });
    await waitForStatus(h.app, 'alike', 'Executing');
    const watchers = await Promise.all([1, 2, 3].map(() => open('/api/tasks/alike/events')));
    for (const watcher of watchers) await watcher.waitForEvent('snapshot');
    touch('go');
    for (const watcher of watchers) expect(await watcher.waitForClose()).toEqual({ ended: true, complete: true });

    const [first, ...others] = watchers.map((watcher) => watcher.events.slice(1));
    expect(first!.map((event) => event.event)).toEqual(expect.arrayContaining(['output', 'run-finished', 'status']));
    expectIdsIncreasing(first!, h.events.epoch);
    const bytes = (events: SseEvent[]) => events.map((event) => `${event.raw}\n\n`).join('');
    for (const events of others) expect(bytes(events)).toBe(bytes(first!));
  });

  it('resumes a watcher that was cut off for not reading with exactly the events it missed, in order', async () => {
    // Everything the run prints stays retained, so that the cut-off watcher can resume from where it stopped.
    const h = await start({ events: { ...events, maxQueuedBytesPerClient: 1024 * 1024, maxBytesPerTask: 256 * 1024 * 1024, maxBytesTotal: 512 * 1024 * 1024 } });
    const script = `${hold('go')}; head -c 20000000 /dev/zero | tr '\\0' x; echo; ${hold('finish')}; echo done`;
    await submit(h.app, { id: 'laggard', type: 'delay', time: '10ms', script });
    await waitForStatus(h.app, 'laggard', 'Executing');
    const slow = await open('/api/tasks/laggard/events', { dropOutputText: true });
    const reader = await open('/api/tasks/laggard/events', { dropOutputText: true });
    await slow.waitForEvent('snapshot');
    await reader.waitForEvent('snapshot');
    slow.pause();

    touch('go');
    await vi.waitFor(() => expect(h.events.watchers).toBe(1), { timeout: 20_000, interval: 5 });
    await reader.waitUntil('the whole flood', () => outputOf(reader.events, 'stdout').end === 20_000_001, 20_000);
    touch('finish');
    expect(await reader.waitForClose(20_000)).toEqual({ ended: true, complete: true });

    // Cut short: it reads what reached it, then the connection is gone without the end.
    slow.resume();
    await slow.waitForClose(20_000);
    expect(slow.named('run-finished')).toEqual([]);
    const lastId = slow.lastId()!;
    const resumed = await open('/api/tasks/laggard/events', { lastEventId: lastId, dropOutputText: true });
    expect(resumed.status).toBe(200);
    expect(await resumed.waitForClose(20_000)).toEqual({ ended: true, complete: true });
    expect(resumed.named('pruned')).toEqual([]);
    expect(resumed.named('snapshot')).toEqual([]);

    // Both were opened before anything happened: the cut-off stream and its resumption
    // together are what the reader got after the same snapshot, no gap, no duplicate.
    expect(slow.events[0]!.id).toBe(reader.events[0]!.id);
    const joined = [...slow.events.slice(1), ...resumed.events];
    expect(comparable(joined)).toEqual(comparable(reader.events.slice(1)));
    expectIdsIncreasing(joined, h.events.epoch);
    expect(outputOf(joined, 'stdout')).toMatchObject({ start: 0, end: 20_000_006 });
  });
});

describe('deletion, unknown tasks and authentication', () => {
  it('sends deleted to the watchers of a deleted task and ends their streams', async () => {
    const h = await start();
    await submit(h.app, { id: 'doomed', time: '1h' });
    await submit(h.app, { id: 'bystander', time: '1h' });
    const watchers = await Promise.all([open('/api/tasks/doomed/events'), open('/api/tasks/doomed/events')]);
    const other = await open('/api/tasks/bystander/events');
    for (const watcher of [...watchers, other]) await watcher.waitForEvent('snapshot');
    expect((await h.app.inject({ method: 'DELETE', url: '/api/tasks/doomed' })).statusCode).toBe(204);
    for (const watcher of watchers) {
      expect(await watcher.waitForClose()).toEqual({ ended: true, complete: true });
      expect(watcher.events.map((event) => event.event)).toEqual(['snapshot', 'deleted']);
      expect(watcher.events[1]!.data).toEqual({ id: 'doomed' });
      expect(seqOf(watcher.events[1]!.id)).toBeGreaterThan(seqOf(watcher.events[0]!.id));
    }
    expect(watchers[0]!.events[1]!.id).toBe(watchers[1]!.events[1]!.id);
    expect(other.closed).toBe(false);
    expect(other.events.map((event) => event.event)).toEqual(['snapshot']);
    expect(h.events.watchers).toBe(1);

    // A resume after the deletion finds no task.
    const late = await open('/api/tasks/doomed/events', { lastEventId: watchers[0]!.events[0]!.id });
    await late.waitForClose();
    expectError(asInjected(late), 404, 'not_found');
  });

  it('answers 404 for an unknown task with the usual error', async () => {
    const h = await start();
    const client = await open('/api/tasks/ghost/events');
    await client.waitForClose();
    expect(expectError(asInjected(client), 404, 'not_found')).toContain('ghost');
    expect(h.events.watchers).toBe(0);
    expect(h.events.retainedBytes).toBe(0);
  });

  it('answers 401 to a stream without the bearer token', async () => {
    const h = await start({ token: 'sekret' });
    const submitted = await h.app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: { authorization: 'Bearer sekret' },
      payload: { id: 'guarded', type: 'delay', time: '1h', script: 'echo hi' },
    });
    expect(submitted.statusCode).toBe(201);
    for (const options of [{}, { token: 'wrong' }, { token: '' }]) {
      const client = await open('/api/tasks/guarded/events', options);
      await client.waitForClose();
      expectError(asInjected(client), 401, 'unauthorized');
    }
    expect(h.events.watchers).toBe(0);
    // With the token, the same stream opens.
    const client = await open('/api/tasks/guarded/events', { token: 'sekret' });
    expect((await client.waitForEvent('snapshot')).data.task.id).toBe('guarded');
  });
});

describe('a run that waits for a free slot', () => {
  it('is announced as waiting in run-started, in reads, and its output follows once a slot frees', async () => {
    const launcher = new ManualLauncher();
    // The engine's time moves only when the test says: the stream opens before the second fire.
    const clock = new FakeClock(Date.now());
    const h = await start({ launcher, clock, slots: { maxRuns: 1, queues: {} } });
    await submit(h.app, { id: 'first', type: 'delay', time: '10ms' });
    clock.advance(10);
    await waitForStatus(h.app, 'first', 'Executing');
    await submit(h.app, { id: 'second', type: 'delay', time: '1s' });
    const client = await open('/api/tasks/second/events');
    expect((await client.waitForEvent('snapshot')).data.run).toBeNull();
    clock.advance(1000);
    const started = await client.waitForEvent('run-started');
    expect(started.data).toMatchObject({ run: 1, waiting: true });
    expect((await getTask(h.app, 'second')).results[0]).toMatchObject({ outcome: 'running', waiting: true, startedAt: null });

    clock.advance(250); // how long the run waits for its slot
    launcher.runs[0]!.finish();
    await vi.waitFor(() => expect(launcher.runs).toHaveLength(2));
    launcher.runs[1]!.write('stdout', 'at last\n');
    await client.waitUntil('the output of the run once it started', () => outputOf(client.events, 'stdout').text === 'at last\n');
    expect((await getTask(h.app, 'second')).results[0]).toMatchObject({ outcome: 'running', waiting: false });
    launcher.runs[1]!.finish();
    const done = await waitForStatus(h.app, 'second', 'Executed');
    expect(done.results[0]!.waitedMs).toBe(250);
  });
});
