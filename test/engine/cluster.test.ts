/**
 * Engines sharing one PostgreSQL schema, in this process: the real store (a node each),
 * fake runners whose runs end when a test says, the real clock (due times and leases are
 * compared with the database's clock). What the cluster's end-to-end tests show with real
 * daemons, seen here from the engine's side: claims within a node's room and a queue's bound,
 * renewals with output, takeover of an expired run and its retry, a lost run's end refused,
 * kill and delete sent to the node executing a run.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../src/core/task.js';
import { ChangeFeed } from '../../src/engine/change-feed.js';
import { Engine } from '../../src/engine/engine.js';
import { FaultLog } from '../../src/engine/fault-log.js';
import { systemClock } from '../../src/engine/system-clock.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-store.js';
import { FakeRunner } from '../support/fake-runner.js';
import { connectForTests, testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { RecordingLog } from './engine-harness.js';

interface Node {
  id: string;
  store: PostgresTaskStore;
  runner: FakeRunner;
  log: RecordingLog;
  engine: Engine;
}

const open: Node[] = [];

afterEach(async () => {
  for (const node of open.splice(0)) {
    await node.engine.shutdown().catch(() => {});
    // A node a test cut off has its store closed already.
    await node.store.close().catch(() => {});
  }
});

/** A started engine on `schema`: a node of its own (home, id), a lease of `leaseMs`. */
async function startNode(schema: string, options: { leaseMs?: number; maxRuns?: number; queues?: Record<string, number>; home?: string } = {}): Promise<Node> {
  const id = `node-${randomBytes(3).toString('hex')}`;
  const store = await PostgresTaskStore.open({
    url: testPostgresUrl,
    schema,
    poolSize: 3,
    owner: { nodeId: id, home: options.home ?? `home-${id}`, leaseMs: options.leaseMs ?? 60_000 },
  });
  const runner = new FakeRunner({ now: () => Date.now() });
  const log = new RecordingLog();
  const engine = new Engine({
    store,
    runner,
    clock: systemClock,
    feed: new ChangeFeed(systemClock),
    log,
    faults: new FaultLog(log, systemClock),
    keepRuns: 20,
    outputCap: 1024,
    limits: { maxScriptBytes: 64 * 1024, execution: { queues: ['default', 'solo'], sandboxMode: 'optional', sandbox: { available: false, reason: 'not in these tests' }, checkUser: () => null } },
    slots: { maxRuns: options.maxRuns ?? 100, queues: {} },
    leases: { store, renewEveryMs: 100, nodeId: id },
    claims: { store, pollMs: 50, ...(options.queues ? { queueLimits: options.queues } : {}) },
  });
  await engine.start();
  const node = { id, store, runner, log, engine };
  open.push(node);
  return node;
}

/** Submits a one-time task due now through `node`. */
function submitDue(node: Node, id: string, extra: Record<string, unknown> = {}): Promise<Task> {
  return node.engine.submit({ id, type: 'delay', time: '1ms', script: `echo ${id}`, ...extra });
}

describe('engines sharing PostgreSQL', () => {
  it('claim due fires within their room: a full node leaves a fire for another, and fires it itself once a run ends', async () => {
    const schema = await useTestSchema();
    const a = await startNode(schema, { maxRuns: 1 });
    await submitDue(a, 'first');
    await waitFor('the first run to start on A', () => a.runner.active('first'));
    await submitDue(a, 'second');
    // A has no room: its claims leave the second due (never recorded waiting on this node).
    const b = await startNode(schema, { maxRuns: 1 });
    await waitFor('B to start the second run', () => b.runner.active('second'));
    expect(a.runner.active('second')).toBeUndefined();
    expect((await a.engine.get('second')).runs[0]).toMatchObject({ outcome: 'running', node: b.id });
    expect((await a.engine.get('second')).runs[0]!.waiting).toBeUndefined();
    // A third due while both are full is fired by the first node to free a slot.
    await submitDue(b, 'third');
    a.runner.active('first')!.finish();
    await waitFor('A to start the third run once its slot is free', () => a.runner.active('third'));
    a.runner.active('third')!.finish();
    b.runner.active('second')!.finish();
    for (const id of ['first', 'second', 'third']) await waitFor(`${id} to end Executed`, async () => (await a.engine.getTask(id)).state.status === 'Executed');
  });

  it('bound a queue over the cluster in the claims', async () => {
    const schema = await useTestSchema();
    const a = await startNode(schema, { queues: { solo: 1 } });
    const b = await startNode(schema, { queues: { solo: 1 } });
    for (const id of ['s1', 's2', 's3']) await submitDue(a, id, { queue: 'solo' });
    const running = () => ['s1', 's2', 's3'].filter((id) => a.runner.active(id) ?? b.runner.active(id));
    for (let done = 0; done < 3; done++) {
      const [id] = await waitFor('one run of the queue to execute', () => (running().length === 1 ? running() : undefined));
      // Never a second at once, on either node, while this one runs.
      expect(running()).toEqual([id]);
      (a.runner.active(id!) ?? b.runner.active(id!))!.finish();
      await waitFor(`${id} to be recorded ended`, async () => (await a.engine.getTask(id!)).state.status === 'Executed');
    }
  });

  it("renew the leases of their runs with the output so far; take over a lost node's run and retry it", async () => {
    const schema = await useTestSchema();
    const a = await startNode(schema, { leaseMs: 300 });
    await submitDue(a, 'lost', { retries: 1, retryDelay: '10ms' });
    const run = await waitFor('the run to start on A', () => a.runner.active('lost'));
    run.write('stdout', 'so far\n');
    await waitFor('the output so far to reach the store', async () => (await a.store.getRun('lost', 1))?.stdout.text === 'so far\n');
    // A is cut off from the database: it can renew nothing, its run stays recorded in progress.
    const lostId = a.id;
    await a.store.close();
    const b = await startNode(schema);
    const retried = await waitFor('B to take the run over and start its retry', () => b.runner.active('lost'));
    expect(retried.run).toBe(2);
    const { runs } = await b.engine.get('lost');
    expect(runs[0]).toMatchObject({ run: 1, outcome: 'interrupted', node: lostId, stdout: { text: 'so far\n' } });
    expect(runs[0]!.error).toContain(`node ${lostId} executing the run stopped renewing its lease`);
    expect(runs[1]).toMatchObject({ run: 2, attempt: 2, outcome: 'running', node: b.id });
    retried.finish();
    await waitFor('the retry to be recorded', async () => (await b.engine.getTask('lost')).state.status === 'Executed');
    expect(b.log.entries.some((entry) => entry.message === 'recorded interrupted a run whose node stopped renewing its lease')).toBe(true);
  });

  it('end a run here when another node took it over, and do not record its end', async () => {
    const schema = await useTestSchema();
    const a = await startNode(schema);
    await submitDue(a, 'fenced');
    const run = await waitFor('the run to start on A', () => a.runner.active('fenced'));
    // What another node's takeover writes once A's lease lapsed (A paused, say): the run
    // interrupted and nobody's, the task moved on.
    const admin = await connectForTests();
    try {
      await admin.query(`UPDATE "${schema}".runs SET outcome = 'interrupted', owner_home = NULL, fence = fence + 1, finished_at = 1 WHERE task_id = 'fenced' AND run = 1`);
      await admin.query(`UPDATE "${schema}".tasks SET status = 'Executed', current_run = NULL, next_run_at = NULL, state_detail = NULL, version = version + 1 WHERE id = 'fenced'`);
    } finally {
      await admin.end();
    }
    await waitFor('A to end its run at its next renewal', () => run.settled);
    await waitFor('A to say the end is not recorded', () =>
      a.log.entries.some((entry) => entry.level === 'warn' && entry.message === "the end of this run is not recorded: it was no longer this node's"),
    );
    expect((await a.store.getRun('fenced', 1))!.outcome).toBe('interrupted');
    expect(a.log.errors).toEqual([]);
  });

  it('kill and delete sent to one node reach the run on the node executing it', async () => {
    const schema = await useTestSchema();
    const a = await startNode(schema);
    const b = await startNode(schema);
    const where = (id: string) => waitFor(`the run of ${id} to start on a node`, () => {
      if (a.runner.active(id)) return { owner: a, other: b };
      if (b.runner.active(id)) return { owner: b, other: a };
      return undefined;
    });
    await submitDue(a, 'victim');
    const victim = await where('victim');
    const killed = await victim.other.engine.kill('victim');
    expect(killed.runs[0]).toMatchObject({ run: 1, outcome: 'killed', node: victim.owner.id });
    expect(victim.owner.log.entries.some((entry) => entry.message.startsWith('another node asked to end this run'))).toBe(true);
    // Nothing left to kill: said so, wherever the task last ran.
    await expect(victim.other.engine.kill('victim')).rejects.toMatchObject({ code: 'not_running' });

    await submitDue(b, 'doomed');
    const doomed = await where('doomed');
    const run = doomed.owner.runner.active('doomed')!;
    await doomed.other.engine.delete('doomed');
    await waitFor('the run to be ended on the node executing it', () => run.settled);
    await expect(doomed.owner.engine.getTask('doomed')).rejects.toMatchObject({ code: 'not_found' });
  });
});
