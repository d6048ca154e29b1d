/**
 * A named queue bounded over the cluster (two real daemons on one PostgreSQL schema, the
 * queue `solo` allowing one run at once): runs of the queue never overlap, whichever node
 * runs them, and all of them run. Each script holds a lock directory while it runs: a second
 * script of the queue starting meanwhile would find it taken and say so.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { TaskView } from '../support/api-views.js';
import { clusterStartTimeoutMs, startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let nodes: ClusterNode[];
let scratch: string;

beforeAll(async () => {
  scratch = e2e.tempDir();
  const config = join(scratch, 'config.json');
  writeFileSync(config, JSON.stringify({ queues: { solo: 1 } }));
  nodes = await startNodes(e2e, store, 2, ['--config', config]);
}, clusterStartTimeoutMs);

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

describe('a queue bounded over the cluster', () => {
  test('six runs of a queue of one, due at once on two nodes: one at a time, all of them', async () => {
    const lock = join(scratch, 'solo.lock');
    const ran = join(scratch, 'ran');
    const overlaps = join(scratch, 'overlaps');
    const at = new Date(Date.now() + 3_000).toISOString();
    const ids = Array.from({ length: 6 }, (_, index) => `solo-${index}`);
    for (const [index, id] of ids.entries()) {
      await nodes[index % 2]!.daemon.api('POST', '/api/tasks', {
        id, type: 'at', time: at, queue: 'solo',
        script: `mkdir ${lock} 2>/dev/null || echo "$SCHEDULER_TASK_ID" >> ${overlaps}; echo "$SCHEDULER_DAEMON_ID $SCHEDULER_TASK_ID" >> ${ran}; sleep 0.3; rmdir ${lock}`,
      });
    }
    await waitFor('the six runs to have run', () => lines(ran).length === 6, { timeoutMs: 30_000 });
    expect(lines(overlaps)).toEqual([]);
    expect(lines(ran).map((line) => line.split(' ')[1]).sort()).toEqual(ids);
    await waitFor('every task to be recorded Executed', async () => {
      for (const id of ids) if ((await nodes[0]!.daemon.existingTask<TaskView>(id)).status !== 'Executed') return false;
      return true;
    });
  });
});
