/**
 * Watching across nodes: two real daemons on one PostgreSQL schema. A run is started on node
 * A (`scheduler run` sent to A executes there); node B's event streams, long polls and
 * `scheduler logs --follow` see it start, its output as it is written (flushed to the
 * database by A about every second, read by B while someone watches) and its end. A stream
 * read on A and resumed on B with Last-Event-ID goes on where it stood on A, and so does one
 * resumed on A after A restarted: event ids carry a cursor (the task's version and the output
 * told) that any node resumes from.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import type { RunView, TaskView } from '../support/api-views.js';
import { startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';
import { joinContiguous, SseClient, type SseEvent } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let a: ClusterNode;
let b: ClusterNode;
let scratch: string;

beforeAll(async () => {
  [a, b] = (await startNodes(e2e, store, 2)) as [ClusterNode, ClusterNode];
  scratch = e2e.tempDir();
});

const eventsUrl = (node: ClusterNode, id: string) => `${node.daemon.url}/api/tasks/${encodeURIComponent(id)}/events`;

/** A task that runs only when asked (its delay is an hour away), submitted on `node`. */
async function submitIdle(node: ClusterNode, id: string, script: string): Promise<TaskView> {
  return node.daemon.submit(id, ['--type', 'delay', '--time', '1h', `--script=${script}`]);
}

/** The statuses' versions told on a stream, in order. */
const versions = (events: readonly SseEvent[]) => events.filter((event) => event.event === 'status').map((event) => event.data.version as number);

describe('watching a task from another node than the one changing it', () => {
  test('an SSE stream on B sees a run executing on A start, write its output and end; logs --follow and get --watch on B print all of it', async () => {
    const id = 'followed';
    const [g1, g2] = [gate(scratch, `${id}-1`), gate(scratch, `${id}-2`)];
    await submitIdle(a, id, `echo one; echo err-one >&2; ${g1.wait}; echo two; ${g2.wait}; echo three`);
    const stream = await SseClient.open(eventsUrl(b, id));
    await stream.waitForEvent('snapshot');
    const follow = b.daemon.startCli(['logs', id, '--follow']);
    const watch = b.daemon.startCli(['get', id, '--watch']);

    expect((await a.daemon.cli(['run', id])).code).toBe(0);
    await stream.waitForEvent('run-started', (data) => data.run === 1);
    await stream.waitUntil('the first output, read from A\'s flush', (s) => s.output().map((chunk) => chunk.text).join('').includes('one\n'));
    g1.open();
    await stream.waitUntil('the second line, live', (s) => joinContiguous(s.output(), 1, 'stdout') === 'one\ntwo\n');
    g2.open();
    await stream.waitForEvent('run-finished', (data) => data.run === 1);
    await stream.waitForClose();

    // All of the output, each byte once, before the end is told.
    const recorded = ((await a.daemon.existingTask(id)).results as RunView[])[0]!;
    expect(recorded).toMatchObject({ outcome: 'succeeded', stdout: 'one\ntwo\nthree\n', stderr: 'err-one\n' });
    expect(joinContiguous(stream.output(), 1, 'stdout')).toBe(recorded.stdout);
    expect(joinContiguous(stream.output(), 1, 'stderr')).toBe(recorded.stderr);
    const names = stream.events.map((event) => event.event);
    expect(names.lastIndexOf('output')).toBeLessThan(names.indexOf('run-finished'));
    expect(stream.named('run-finished')[0]!.data).toMatchObject({ outcome: 'succeeded', stdoutBytes: 'one\ntwo\nthree\n'.length });
    expect(stream.events.at(-1)).toMatchObject({ event: 'status', data: { status: 'Executed' } });
    // No change told twice.
    const told = versions(stream.events);
    expect(told).toEqual([...new Set(told)].sort((x, y) => x - y));

    const logs = await follow.done();
    expect(logs, logs.stderr).toMatchObject({ code: 0, stdout: 'one\ntwo\nthree\n' });
    const watched = await watch.done();
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/one\ntwo\nthree\n/);
    expect(watched.stdout).toMatch(/Executed/);
  });

  test('a long poll on B answers when A changes the task, and says so when A deletes it', async () => {
    const id = 'polled';
    const [g1] = [gate(scratch, `${id}-1`)];
    const submitted = await submitIdle(a, id, g1.wait);
    const poll = fetch(`${b.daemon.url}/api/tasks/${id}?watch=true&version=${submitted.version}&timeout=20s`);
    expect((await a.daemon.cli(['run', id])).code).toBe(0);
    const answer = await poll;
    expect(answer.status).toBe(200);
    const changed = (await answer.json()) as TaskView;
    expect(changed.version).toBeGreaterThan(submitted.version as number);
    expect(changed.status).toBe('Executing');

    const gone = fetch(`${b.daemon.url}/api/tasks/${id}?watch=true&version=${changed.version}&timeout=20s`);
    expect((await a.daemon.cli(['delete', id])).code).toBe(0);
    expect((await gone).status).toBe(404);
    g1.open();
  });

  test('a stream read on A and resumed on B with Last-Event-ID while the run goes on: the rest of the output, then live; no gap, no duplicate', async () => {
    const id = 'moved';
    const [g1, g2] = [gate(scratch, `${id}-1`), gate(scratch, `${id}-2`)];
    await submitIdle(a, id, `echo first; ${g1.wait}; echo second; ${g2.wait}; echo third`);
    const onA = await SseClient.open(eventsUrl(a, id));
    await onA.waitForEvent('snapshot');
    expect((await a.daemon.cli(['run', id])).code).toBe(0);
    await onA.waitUntil('the first line', (s) => joinContiguous(s.output(), 1, 'stdout') === 'first\n');
    const lastSeen = onA.lastId()!;
    await onA.close();

    // While nobody watches, the run goes on.
    g1.open();
    await waitFor('the second line to reach the database', async () => ((await b.daemon.existingTask(id)).results as RunView[])[0]?.stdout === 'first\nsecond\n');

    const onB = await SseClient.open(eventsUrl(b, id), { lastEventId: lastSeen });
    expect(onB.status).toBe(200);
    await onB.waitUntil('the missed line', (s) => joinContiguous([...onA.output(), ...s.output()], 1, 'stdout') === 'first\nsecond\n');
    g2.open();
    await onB.waitForEvent('run-finished');
    await onB.waitForClose();
    // Resumed: neither `pruned` nor a snapshot, the output on from where A left off.
    expect(onB.named('pruned')).toEqual([]);
    expect(onB.named('snapshot')).toEqual([]);
    expect(onB.events[0]).toMatchObject({ event: 'output', data: { run: 1, stream: 'stdout', offset: 'first\n'.length } });
    expect(joinContiguous([...onA.output(), ...onB.output()], 1, 'stdout')).toBe('first\nsecond\nthird\n');
    expect(onB.named('run-finished')).toHaveLength(1);
    expect(onB.events.at(-1)).toMatchObject({ event: 'status', data: { status: 'Executed' } });
    const told = versions([...onA.events, ...onB.events]);
    expect(told).toEqual([...new Set(told)].sort((x, y) => x - y));
  });

  test('a stream read on A and resumed on B after the run ended: the rest of its output, its end, the final status; then 204 on A', async () => {
    const id = 'ended-meanwhile';
    const [g1] = [gate(scratch, `${id}-1`)];
    await submitIdle(a, id, `echo first; echo err >&2; ${g1.wait}; echo second; exit 3`);
    const onA = await SseClient.open(eventsUrl(a, id));
    await onA.waitForEvent('snapshot');
    expect((await a.daemon.cli(['run', id])).code).toBe(0);
    await onA.waitUntil('the first lines', (s) => joinContiguous(s.output(), 1, 'stdout') === 'first\n' && joinContiguous(s.output(), 1, 'stderr') === 'err\n');
    const lastSeen = onA.lastId()!;
    await onA.close();
    g1.open();
    await b.daemon.waitForStatus(id, 'Executed');

    const onB = await SseClient.open(eventsUrl(b, id), { lastEventId: lastSeen });
    await onB.waitForClose();
    expect(onB.events.map((event) => event.event)).toEqual(['output', 'run-finished', 'status']);
    expect(onB.events[0]!.data).toMatchObject({ run: 1, stream: 'stdout', offset: 'first\n'.length, text: 'second\n' });
    expect(onB.events[1]!.data).toMatchObject({ run: 1, outcome: 'failed', exitCode: 3, stdoutBytes: 'first\nsecond\n'.length });
    expect(onB.events[2]!.data).toMatchObject({ status: 'Executed', previousStatus: 'Executing' });
    expect(joinContiguous([...onA.output(), ...onB.output()], 1, 'stdout')).toBe('first\nsecond\n');

    // Back on A with B's last id: nothing more to send.
    const again = await SseClient.open(eventsUrl(a, id), { lastEventId: onB.lastId()! });
    await again.waitForClose();
    expect(again.status).toBe(204);
  });

  test('a stream read on A, resumed on A after A restarted (a new epoch): the rest of the output of the run executing on B, then live', async () => {
    const id = 'across-restart';
    const [g1, g2] = [gate(scratch, `${id}-1`), gate(scratch, `${id}-2`)];
    await submitIdle(b, id, `echo first; ${g1.wait}; echo second; ${g2.wait}; echo third`);
    const onA = await SseClient.open(eventsUrl(a, id));
    await onA.waitForEvent('snapshot');
    expect((await b.daemon.cli(['run', id])).code).toBe(0);
    await onA.waitUntil('the first line, from B', (s) => joinContiguous(s.output(), 1, 'stdout') === 'first\n');
    const lastSeen = onA.lastId()!;
    await onA.close();

    await a.daemon.stop();
    a = { ...a, daemon: await e2e.restart(a.daemon) };
    g1.open();
    await waitFor('the second line to reach the database', async () => ((await a.daemon.existingTask(id)).results as RunView[])[0]?.stdout === 'first\nsecond\n');

    const resumed = await SseClient.open(eventsUrl(a, id), { lastEventId: lastSeen });
    await resumed.waitUntil('the missed line', (s) => joinContiguous([...onA.output(), ...s.output()], 1, 'stdout') === 'first\nsecond\n');
    g2.open();
    await resumed.waitForEvent('run-finished');
    await resumed.waitForClose();
    expect(resumed.named('pruned')).toEqual([]);
    expect(resumed.named('snapshot')).toEqual([]);
    expect(joinContiguous([...onA.output(), ...resumed.output()], 1, 'stdout')).toBe('first\nsecond\nthird\n');
    expect(resumed.events.at(-1)).toMatchObject({ event: 'status', data: { status: 'Executed' } });
  });
});
