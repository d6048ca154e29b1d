/**
 * Three real daemons on one PostgreSQL schema claim due fires from it: each fire runs once,
 * on whichever node claimed it. Every script appends its node's home (SCHEDULER_DAEMON_ID)
 * and its task to one file: the file is the record of what really ran, whatever the store says.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { RunView, TaskView } from '../support/api-views.js';
import { clusterStartTimeoutMs, startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let nodes: ClusterNode[];
let scratch: string;

beforeAll(async () => {
  nodes = await startNodes(e2e, store, 3);
  scratch = e2e.tempDir();
}, clusterStartTimeoutMs);

/** The lines of `file` as [home, task] pairs. */
function ranIn(file: string): Array<[string, string]> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ') as [string, string]);
}

describe('fires claimed from one PostgreSQL by three daemons', () => {
  test('200 tasks due at one instant: each runs exactly once, and more than one node runs some', async () => {
    const log = join(scratch, 'burst');
    // Submitted through all three nodes, due together well after the last submit.
    const at = new Date(Date.now() + 8_000).toISOString();
    const ids = Array.from({ length: 200 }, (_, index) => `burst-${index}`);
    for (let from = 0; from < ids.length; from += 20) {
      await Promise.all(
        ids.slice(from, from + 20).map((id, index) =>
          nodes[index % 3]!.daemon.api('POST', '/api/tasks', { id, type: 'at', time: at, script: `echo "$SCHEDULER_DAEMON_ID $SCHEDULER_TASK_ID" >> ${log}` }),
        ),
      );
    }
    const ran = await waitFor('all 200 scripts to have run', () => (ranIn(log).length >= 200 ? ranIn(log) : undefined), { timeoutMs: 40_000 });
    const byTask = new Map<string, number>();
    for (const [, task] of ran) byTask.set(task, (byTask.get(task) ?? 0) + 1);
    expect([...byTask.keys()].sort()).toEqual([...ids].sort());
    expect([...byTask.values()].every((count) => count === 1)).toBe(true);
    const homes = new Set(ran.map(([home]) => home));
    expect(homes.size).toBeGreaterThan(1);
    for (const home of homes) expect(nodes.map((node) => node.home)).toContain(home);
    // The store agrees: one run each, succeeded, as any node reads it.
    await waitFor('every task to be recorded Executed', async () => {
      const page = (await nodes[2]!.daemon.api('GET', '/api/tasks?limit=500')) as { tasks: TaskView[] };
      return page.tasks.filter((task) => task.id.startsWith('burst-') && task.status === 'Executed').length === 200;
    }, { timeoutMs: 20_000 });
    const sample = await nodes[1]!.daemon.existingTask<TaskView>('burst-137');
    expect(sample.results).toHaveLength(1);
    expect(sample.results![0]).toMatchObject({ run: 1, attempt: 1, outcome: 'succeeded' });
  });

  test('a task every second for 30s: exactly one run per tick, none missing', async () => {
    const log = join(scratch, 'ticks');
    // Far enough ahead that a busy machine's CLI submits it first. Overlapping runs are allowed:
    // a run whose end is recorded late (a busy machine) must not make the next tick a skip.
    const start = Math.ceil((Date.now() + 8_000) / 1000) * 1000;
    const end = start + 29_000;
    await nodes[0]!.daemon.submit('ticker', [
      '--every', '1s', '--overlap', 'allow', '--start', new Date(start).toISOString(), '--end', new Date(end).toISOString(),
      `--script=echo "$SCHEDULER_DAEMON_ID $SCHEDULER_TASK_ID" >> ${log}`,
    ]);
    const task = await waitFor(
      'the 30 ticks to have run and the task to end',
      async () => {
        const found = await nodes[1]!.daemon.existingTask<TaskView>('ticker');
        return found.status === 'Executed' ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const runs = task.results as RunView[];
    expect(runs.map((run) => run.outcome)).toEqual(Array(30).fill('succeeded'));
    expect(runs.map((run) => Date.parse(run.scheduledAt))).toEqual(Array.from({ length: 30 }, (_, tick) => start + tick * 1000));
    expect(ranIn(log)).toHaveLength(30);
  }, 90_000);
});
