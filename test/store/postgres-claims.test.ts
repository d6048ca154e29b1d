/**
 * Claims of due fires on PostgreSQL: due by the database's clock, locked against other
 * nodes while one claims them (SKIP LOCKED: they take others, never wait or fire the same),
 * fired and written in the claim's transaction, and left due when the claimer has no room.
 */
import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/core/task.js';
import { PostgresTaskStore, type RunOwner } from '../../src/store/postgres/postgres-store.js';
import type { SaveTaskParams } from '../../src/store/task-store.js';
import { connectForTests, testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { makeTask } from './conformance.js';

const noOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };

async function nodes(count: number) {
  const schema = await useTestSchema();
  const stores: PostgresTaskStore[] = [];
  for (let index = 0; index < count; index++) {
    const owner: RunOwner = { nodeId: `node-${index}`, home: `home-${index}`, leaseMs: 60_000 };
    stores.push(await PostgresTaskStore.open({ url: testPostgresUrl, schema, poolSize: 2, owner }));
  }
  return { schema, stores, close: () => Promise.all(stores.map((store) => store.close())) };
}

/** The database's clock now, in epoch ms. */
async function databaseNow(schema: string): Promise<number> {
  const client = await connectForTests();
  try {
    return Number((await client.query(`SELECT "${schema}".now_ms() AS now`)).rows[0].now);
  } finally {
    await client.end();
  }
}

/** A one-time task due at `at` (in queue `queue`, when given). */
function dueTask(id: string, at: number, queue?: string): Task {
  const base = makeTask(id, { schedule: { kind: 'once', at }, state: { status: 'ToBeExecuted', nextRunAt: at }, createdAt: at - 1000, lastStatusUpdated: at - 1000 });
  return queue === undefined ? base : { ...base, execution: { ...base.execution, queue } };
}

/** What firing `task` at `now` writes: its run 1 started, the task Executing. */
function fireOf(task: Task, now: number): SaveTaskParams {
  return {
    task: { ...task, state: { status: 'Executing', run: 1, nextRunAt: null, stopRequested: false, fire: task.state.status === 'ToBeExecuted' ? task.state.nextRunAt : now, attempt: 1 }, version: task.version + 1, lastRun: 1, lastStatusUpdated: now },
    expectedVersion: task.version,
    runChange: {
      kind: 'insert',
      run: { run: 1, scheduledAt: (task.state as { nextRunAt: number }).nextRunAt, attempt: 1, startedAt: now, finishedAt: null, outcome: 'running', exitCode: null, signal: null, error: null, stdout: noOutput, stderr: noOutput, outputCap: 4096 },
    },
    keepRuns: 10,
  };
}

describe('claiming due fires on PostgreSQL', () => {
  it('claims what is due by the database clock, fires it at that clock, and writes the fire in the claim', async () => {
    const { schema, stores, close } = await nodes(1);
    try {
      const now = await databaseNow(schema);
      await stores[0]!.insertTask(dueTask('past', now - 5));
      await stores[0]!.insertTask(dueTask('future', now + 3_600_000));
      const seen: Array<{ id: string; now: number }> = [];
      const before = await databaseNow(schema);
      const claimed = await stores[0]!.claimDue({ limit: 10, fire: (task, at) => (seen.push({ id: task.id, now: at }), fireOf(task, at)) });
      const after = await databaseNow(schema);
      expect(seen.map((entry) => entry.id)).toEqual(['past']);
      expect(seen[0]!.now).toBeGreaterThanOrEqual(before);
      expect(seen[0]!.now).toBeLessThanOrEqual(after);
      expect(claimed.due).toBe(1);
      expect(claimed.fires.map((fire) => fire.previous.id)).toEqual(['past']);
      const task = (await stores[0]!.getTask('past'))!;
      expect(task.state.status).toBe('Executing');
      expect(await stores[0]!.isOwn({ taskId: 'past', run: 1 })).toBe(true);
      // Fired, it is no longer due: a second claim finds nothing.
      expect((await stores[0]!.claimDue({ limit: 10, fire: fireOf })).due).toBe(0);
    } finally {
      await close();
    }
  });

  it('skips the tasks another transaction holds, without waiting for it, and fires them once it lets go', async () => {
    const { schema, stores, close } = await nodes(2);
    const holder = await connectForTests();
    try {
      const now = await databaseNow(schema);
      const ids = Array.from({ length: 40 }, (_, index) => `t${String(index).padStart(2, '0')}`);
      for (const [index, id] of ids.entries()) await stores[0]!.insertTask(dueTask(id, now - 100 + index));
      // Another node in the middle of its claim of the first 15.
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "${schema}".tasks WHERE id = ANY($1) FOR UPDATE`, [ids.slice(0, 15)]);
      const during = await stores[1]!.claimDue({ limit: 100, fire: fireOf });
      expect(during.fires.map((fire) => fire.previous.id)).toEqual(ids.slice(15));
      await holder.query('ROLLBACK');
      const after = await stores[0]!.claimDue({ limit: 100, fire: fireOf });
      expect(after.fires.map((fire) => fire.previous.id)).toEqual(ids.slice(0, 15));
    } finally {
      await holder.end();
      await close();
    }
  });

  it('three nodes claiming 300 due tasks at once, in batches: every task fired exactly once', async () => {
    const { schema, stores, close } = await nodes(3);
    try {
      const now = await databaseNow(schema);
      const ids = Array.from({ length: 300 }, (_, index) => `t${index}`);
      await Promise.all(ids.map((id, index) => stores[index % 3]!.insertTask(dueTask(id, now - 1000 + (index % 7)))));
      const firedBy = await Promise.all(
        stores.map(async (store) => {
          const mine: string[] = [];
          for (;;) {
            const claimed = await store.claimDue({ limit: 25, fire: fireOf });
            mine.push(...claimed.fires.map((fire) => fire.previous.id));
            if (claimed.due === 0) return mine;
          }
        }),
      );
      const all = firedBy.flat();
      expect(all).toHaveLength(300);
      expect(new Set(all).size).toBe(300);
      expect((await stores[0]!.listTasks({ limit: 500, status: 'Executing' })).tasks).toHaveLength(300);
    } finally {
      await close();
    }
  });

  it('bounds a queue over every node: two nodes claiming at once fill its slots, no more, and the rest stay due', async () => {
    const { schema, stores, close } = await nodes(2);
    try {
      const now = await databaseNow(schema);
      for (let index = 0; index < 6; index++) await stores[0]!.insertTask(dueTask(`solo-${index}`, now - 100 + index, 'solo'));
      await stores[0]!.insertTask(dueTask('free', now - 200));
      const claim = (store: PostgresTaskStore) =>
        store.claimDue({
          limit: 3,
          queueLimits: { solo: 2 },
          fire: (task, at, queues) => (queues.take(task.execution.queue) ? fireOf(task, at) : undefined),
        });
      const [first, second] = await Promise.all([claim(stores[0]!), claim(stores[1]!)]);
      const fired = [...first.fires, ...second.fires].map((fire) => fire.previous.id);
      expect(fired.filter((id) => id.startsWith('solo-'))).toHaveLength(2);
      expect(fired).toContain('free');
      // While those two execute, the queue stays full for every node.
      expect((await claim(stores[1]!)).fires).toEqual([]);
      expect((await stores[0]!.listTasks({ limit: 10, status: 'ToBeExecuted' })).tasks).toHaveLength(4);
    } finally {
      await close();
    }
  });

  it('a claim that fires nothing for want of room leaves the tasks due, for another node', async () => {
    const { schema, stores, close } = await nodes(2);
    try {
      const now = await databaseNow(schema);
      await stores[0]!.insertTask(dueTask('a', now - 10));
      await stores[0]!.insertTask(dueTask('b', now - 5));
      const full = await stores[0]!.claimDue({ limit: 10, fire: () => undefined });
      expect(full).toEqual({ due: 2, fires: [] });
      const roomy = await stores[1]!.claimDue({ limit: 10, fire: fireOf });
      expect(roomy.fires.map((fire) => fire.previous.id)).toEqual(['a', 'b']);
      expect(await stores[1]!.isOwn({ taskId: 'a', run: 1 })).toBe(true);
    } finally {
      await close();
    }
  });
});
