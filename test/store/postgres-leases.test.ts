/**
 * The leases of runs in a PostgreSQL store shared by several nodes: each node's store is
 * opened with its own owner (node id, home); leases are compared with the database's clock,
 * which the tests move past a lease by giving it a lease of a few milliseconds and waiting
 * until the database says it expired.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import type { Run, Task } from '../../src/core/task.js';
import { createPool, describeServer } from '../../src/store/postgres/connection.js';
import { PostgresTaskStore, type RunOwner } from '../../src/store/postgres/postgres-store.js';
import { testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';
import { makeTask } from './conformance.js';

const noOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };
const t0 = Date.parse('2026-11-25T10:00:00.000Z');

/** Two nodes' stores over one fresh schema; `leaseMs` each. */
async function twoNodes(leaseMs: { a: number; b: number } = { a: 60_000, b: 60_000 }) {
  const schema = await useTestSchema();
  const open = (owner: RunOwner) => PostgresTaskStore.open({ url: testPostgresUrl, schema, poolSize: 2, owner });
  const a = await open({ nodeId: 'host-1-aaaa', home: 'home-a', leaseMs: leaseMs.a });
  const b = await open({ nodeId: 'host-2-bbbb', home: 'home-b', leaseMs: leaseMs.b });
  const unowned = new PostgresTaskStore({ pool: createPool({ url: testPostgresUrl, poolSize: 1 }), schema, server: describeServer(testPostgresUrl) });
  return {
    schema,
    open,
    a,
    b,
    unowned,
    async close() {
      await Promise.all([a.close(), b.close(), unowned.close()]);
    },
  };
}

function running(run: number, scheduledAt: number): Run {
  return { run, scheduledAt, attempt: 1, startedAt: scheduledAt + 1, finishedAt: null, outcome: 'running', exitCode: null, signal: null, error: null, stdout: noOutput, stderr: noOutput, outputCap: 4096 };
}

/** Inserts a cron task and starts its run 1 through `store` (which then owns the run). */
async function startRunOn(store: PostgresTaskStore, id: string): Promise<Task> {
  const task = makeTask(id, { type: 'cron' });
  await store.insertTask(task);
  const executing: Task = { ...task, state: { status: 'Executing', run: 1, nextRunAt: t0 + 120_000, stopRequested: false }, version: 2, lastRun: 1 };
  await store.saveTask({ task: executing, expectedVersion: 1, runChange: { kind: 'insert', run: running(1, t0 + 60_000) }, keepRuns: 10 });
  return executing;
}

function finished(task: Task, outcome: 'succeeded' | 'interrupted' = 'succeeded') {
  return {
    task: { ...task, state: { status: 'WaitForNextExecution' as const, nextRunAt: t0 + 120_000 }, version: task.version + 1 },
    expectedVersion: task.version,
    keepRuns: 10,
    result: {
      outcome,
      startedAt: t0 + 60_001,
      finishedAt: t0 + 60_500,
      exitCode: outcome === 'succeeded' ? 0 : null,
      signal: null,
      error: null,
      outputCap: 4096,
      stdout: { text: `${outcome}\n`, totalBytes: outcome.length + 1, droppedBytes: 0, droppedAt: 0 },
      stderr: noOutput,
    },
  };
}

describe('PostgreSQL run leases', () => {
  it("a run is its starter's: another node's renewal does not cover it, and only the starter's end of it is recorded", async () => {
    const nodes = await twoNodes();
    try {
      const task = await startRunOn(nodes.a, 'job');
      expect(await nodes.a.isOwn({ taskId: 'job', run: 1 })).toBe(true);
      expect(await nodes.b.isOwn({ taskId: 'job', run: 1 })).toBe(false);
      const live = { taskId: 'job', run: 1, stdout: noOutput, stderr: noOutput };
      expect(await nodes.b.renew([live])).toEqual([{ taskId: 'job', run: 1 }]);
      expect(await nodes.a.renew([live])).toEqual([]);

      const { result, ...save } = finished(task);
      const byB = nodes.b.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result } });
      await expect(byB).rejects.toMatchObject({ code: 'lease_lost' });
      // Refused as a whole: the task did not move either.
      expect((await nodes.a.getTask('job'))!.version).toBe(task.version);
      await nodes.a.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result } });
      expect((await nodes.a.getRun('job', 1))!.outcome).toBe('succeeded');
    } finally {
      await nodes.close();
    }
  });

  it('renewals write the output so far, which a reader on another node sees, and count it in the output kept', async () => {
    const nodes = await twoNodes();
    try {
      await startRunOn(nodes.a, 'job');
      const stdout = { text: 'héllo\n', totalBytes: 7, droppedBytes: 0, droppedAt: 0 };
      const stderr = { text: 'tail', totalBytes: 104, droppedBytes: 100, droppedAt: 0 };
      expect(await nodes.a.renew([{ taskId: 'job', run: 1, stdout, stderr }])).toEqual([]);
      const seen = (await nodes.b.getRun('job', 1))!;
      expect(seen.stdout).toEqual(stdout);
      expect(seen.stderr).toEqual(stderr);
      expect(seen.outcome).toBe('running');
      expect(await nodes.b.outputBytes()).toBe(Buffer.byteLength('héllo\n') + 4);
    } finally {
      await nodes.close();
    }
  });

  it('a lease expires on the database clock; then exactly one of two nodes taking the run over at once succeeds, and the owner is fenced', async () => {
    const nodes = await twoNodes({ a: 50, b: 60_000 });
    try {
      const task = await startRunOn(nodes.a, 'job');
      await nodes.a.renew([{ taskId: 'job', run: 1, stdout: { text: 'so far\n', totalBytes: 7, droppedBytes: 0, droppedAt: 0 }, stderr: noOutput }]);
      const expired = await waitFor('the lease of node A to expire, by the database clock', async () => {
        const found = await nodes.b.listExpired(10);
        return found.length > 0 ? found : undefined;
      });
      expect(expired).toHaveLength(1);
      const [lapsed] = expired;
      expect(lapsed).toMatchObject({ taskId: 'job', run: 1, ownerNode: 'host-1-aaaa', ownerHome: 'home-a', fence: 1 });
      expect(lapsed!.record.stdout.text).toBe('so far\n');
      // Every node sees it, its owner too (which takes over only those it does not execute).
      expect((await nodes.a.listExpired(10)).map((run) => run.taskId)).toEqual(['job']);

      const { result, ...save } = finished(task, 'interrupted');
      const takeover = { ownerHome: lapsed!.ownerHome, fence: lapsed!.fence };
      // Two takeovers from the same read: the task's version and the fence let one through.
      const c = await nodes.open({ nodeId: 'host-3-cccc', home: 'home-c', leaseMs: 60_000 });
      const attempts = await Promise.allSettled([
        nodes.b.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result, takeover } }),
        c.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result, takeover } }),
      ]).finally(() => c.close());
      expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
      const taken = (await nodes.a.getRun('job', 1))!;
      expect(taken.outcome).toBe('interrupted');
      // It still names the node that executed it, and is nobody's any more.
      expect(taken.node).toBe('host-1-aaaa');
      for (const store of [nodes.a, nodes.b]) expect(await store.isOwn({ taskId: 'job', run: 1 })).toBe(false);

      // The first owner comes back: its renewal says the run is gone, its end is refused.
      expect(await nodes.a.renew([{ taskId: 'job', run: 1, stdout: noOutput, stderr: noOutput }])).toEqual([{ taskId: 'job', run: 1 }]);
      const current = (await nodes.a.getTask('job'))!;
      const late = finished(current);
      const refusal = await nodes.a
        .saveTask({ task: late.task, expectedVersion: current.version, keepRuns: 10, runChange: { kind: 'finish', run: 1, result: late.result } })
        .catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(SchedulerError);
      expect(refusal).toMatchObject({ code: 'lease_lost' });
      expect((await nodes.a.getRun('job', 1))!.outcome).toBe('interrupted');
    } finally {
      await nodes.close();
    }
  });

  it('refuses a takeover while the lease holds, or at a fence that moved on', async () => {
    const nodes = await twoNodes();
    try {
      const task = await startRunOn(nodes.a, 'job');
      const { result, ...save } = finished(task, 'interrupted');
      await expect(nodes.b.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result, takeover: { ownerHome: 'home-a', fence: 1 } } })).rejects.toMatchObject({
        code: 'lease_lost',
      });
      await expect(nodes.b.saveTask({ ...save, runChange: { kind: 'finish', run: 1, result, takeover: { ownerHome: 'home-a', fence: 2 } } })).rejects.toMatchObject({
        code: 'lease_lost',
      });
      expect((await nodes.a.getRun('job', 1))!.outcome).toBe('running');
      expect((await nodes.a.getTask('job'))!.version).toBe(task.version);
    } finally {
      await nodes.close();
    }
  });

  it('a node restarted on the same data directory owns the runs of its earlier life, and recovers only those', async () => {
    const nodes = await twoNodes();
    try {
      await startRunOn(nodes.a, 'mine');
      await startRunOn(nodes.b, 'theirs');
      const again = await nodes.open({ nodeId: 'host-1-a2a2', home: 'home-a', leaseMs: 60_000 });
      try {
        expect((await again.listExecutingTasks()).map((task) => task.id)).toEqual(['mine']);
        expect(await again.isOwn({ taskId: 'mine', run: 1 })).toBe(true);
        expect(await again.isOwn({ taskId: 'theirs', run: 1 })).toBe(false);
        expect(await again.renew([{ taskId: 'mine', run: 1, stdout: noOutput, stderr: noOutput }])).toEqual([]);
      } finally {
        await again.close();
      }
      expect((await nodes.b.listExecutingTasks()).map((task) => task.id)).toEqual(['theirs']);
      // A store with no owner (one daemon alone) recovers every run in progress.
      expect((await nodes.unowned.listExecutingTasks()).map((task) => task.id).sort()).toEqual(['mine', 'theirs']);
    } finally {
      await nodes.close();
    }
  });
});
