/**
 * The registry of nodes on PostgreSQL, against a real server (each test in a schema of its
 * own): nodes sharing a schema see each other, the one asking marked `self`; a node whose
 * heartbeats stop goes stale by the database's clock; a clean stop shows as stopped; nodes
 * gone for longer than the retention are pruned by whoever beats; a lost server is reported
 * as store_unavailable. And the SQLite daemon's registry, which knows only its node.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { newNodeIdentity, type NodeIdentity } from '../../src/core/node.js';
import { LocalNodeRegistry } from '../../src/store/local-node-registry.js';
import { createPool, describeServer } from '../../src/store/postgres/connection.js';
import { PostgresNodeRegistry } from '../../src/store/postgres/postgres-node-registry.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-store.js';
import { testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

let nextPid = 1000;
function identity(host: string): NodeIdentity {
  return newNodeIdentity({ host, pid: nextPid++, version: '1.2.3', startedAt: Date.now(), random: Math.random().toString(16).slice(2, 10).padEnd(8, '0') });
}

/** A store on a fresh schema (migrated), closed when the test ends. */
async function openStore(): Promise<PostgresTaskStore> {
  const schema = await useTestSchema();
  const store = await PostgresTaskStore.open({ url: testPostgresUrl, schema, poolSize: 3 });
  onTestFinished(() => store.close());
  return store;
}

describe('PostgresNodeRegistry', () => {
  it('lists every node of the schema from any of them, each marking itself, with the runs of its last heartbeat', async () => {
    const store = await openStore();
    const a = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const b = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const first = identity('host-a');
    const second = identity('host-b');
    await a.register(first);
    await b.register(second);
    await b.heartbeat(3);

    const fromA = await a.list();
    expect(fromA.map((node) => [node.id, node.self])).toEqual(
      expect.arrayContaining([[first.id, true], [second.id, false]]),
    );
    expect(fromA).toHaveLength(2);
    const seenFromB = (await b.list()).find((node) => node.self)!;
    expect(seenFromB).toMatchObject({ id: second.id, host: 'host-b', pid: second.pid, version: '1.2.3', startedAt: second.startedAt, runsExecuting: 3, state: 'alive', stoppedAt: null });
    // The database's clock, in epoch ms like every time of the store: near this host's here.
    expect(Math.abs(seenFromB.heartbeatAt - Date.now())).toBeLessThan(60_000);
    expect(a.self()).toEqual({ id: first.id, state: 'alive' });
  });

  it('a node whose heartbeats stop goes stale after 3 of its intervals; its own self() says so too', async () => {
    const store = await openStore();
    const watcher = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    await watcher.register(identity('watcher'));
    let clock = Date.now();
    const quiet = store.nodeRegistry({ heartbeatIntervalMs: 20, now: () => clock });
    const gone = identity('quiet');
    await quiet.register(gone);
    // The bound is the quiet node's own interval (20 ms), not the watcher's (a minute).
    await waitFor('the quiet node to be listed stale', async () => (await watcher.list()).find((node) => node.id === gone.id)?.state === 'stale');
    clock += 61;
    expect(quiet.self()).toEqual({ id: gone.id, state: 'stale' });
    // A heartbeat that lands brings it back.
    await quiet.heartbeat(0);
    expect(quiet.self().state).toBe('alive');
    // A beat that lands long after it was sent (it waited for the database to come back)
    // counts from when it landed, as the database stamps it: the node is alive.
    const late = quiet.heartbeat(0);
    clock += 1000;
    await late;
    expect(quiet.self().state).toBe('alive');
  });

  it('a clean stop shows as stopped; a heartbeat after it does not revive the node', async () => {
    const store = await openStore();
    const node = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const me = identity('stopping');
    await node.register(me);
    await node.heartbeat(2);
    await node.stopped();
    await node.heartbeat(5);
    const [record] = await node.list();
    expect(record).toMatchObject({ id: me.id, state: 'stopped', runsExecuting: 0, self: true });
    expect(record!.stoppedAt).toEqual(expect.any(Number));
    expect(node.self()).toEqual({ id: me.id, state: 'stopped' });
  });

  it('whoever beats prunes the nodes stopped or silent for longer than the retention, never itself', async () => {
    const store = await openStore();
    const stopped = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const silent = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const kept = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    await stopped.register(identity('stopped'));
    await silent.register(identity('silent'));
    await kept.register(identity('kept'));
    await stopped.stopped();
    // With an hour's retention nothing goes...
    await kept.heartbeat(0);
    expect(await kept.list()).toHaveLength(3);
    // ...with 5 ms, the other two go once 5 ms have passed by the database's clock.
    const pruner = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now, retentionMs: 5 });
    const prunerId = identity('pruner');
    await pruner.register(prunerId);
    await waitFor('the stopped and the silent node to be pruned', async () => {
      await pruner.heartbeat(0);
      const ids = (await pruner.list()).map((node) => node.id);
      return ids.length === 1 && ids[0] === prunerId.id;
    });
  });

  it('a node whose row was pruned (paused past the retention) reappears with its next heartbeat', async () => {
    const store = await openStore();
    const node = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now });
    const me = identity('paused');
    await node.register(me);
    const other = store.nodeRegistry({ heartbeatIntervalMs: 60_000, now: Date.now, retentionMs: 0 });
    await other.register(identity('other'));
    await waitFor('the paused node to be pruned', async () => {
      await other.heartbeat(0);
      return (await other.list()).every((record) => record.id !== me.id);
    });
    await node.heartbeat(1);
    expect((await other.list()).find((record) => record.id === me.id)).toMatchObject({ state: 'alive', runsExecuting: 1 });
  });

  it('a server that does not answer: store_unavailable, naming the server', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test';
    const pool = createPool({ url, poolSize: 1, connectTimeoutMs: 2000 });
    onTestFinished(() => pool.end());
    const node = new PostgresNodeRegistry({ pool, schema: 'scheduler', server: describeServer(url), heartbeatIntervalMs: 1000, now: Date.now });
    const failure = await node.register(identity('lost')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SchedulerError);
    expect(failure).toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('127.0.0.1:1/test') });
  });
});

describe('LocalNodeRegistry (a daemon on SQLite)', () => {
  it('lists its node alone, as self, then stopped', async () => {
    let now = 1_000_000;
    const node = new LocalNodeRegistry(() => now);
    const me = identity('local');
    await node.register(me);
    now += 500;
    await node.heartbeat(4);
    expect(await node.list()).toEqual([
      { id: me.id, host: 'local', pid: me.pid, version: '1.2.3', startedAt: me.startedAt, heartbeatAt: 1_000_500, runsExecuting: 4, state: 'alive', stoppedAt: null, self: true },
    ]);
    await node.stopped();
    expect(node.self()).toEqual({ id: me.id, state: 'stopped' });
  });
});
