/**
 * Catch-up after the whole cluster was down is done once for the cluster, not once per node:
 * two real daemons on one PostgreSQL schema are stopped while a 1s task's fires pass, then
 * started again at once; the missed fires are recorded once (one skipped record and one run,
 * the task's default rule `once`), whichever node does it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { RunView, TaskView } from '../support/api-views.js';
import { startNodes } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited

describe('catch-up on a cluster', () => {
  test('fires missed while every node was down run once for the cluster when the nodes come back together', async () => {
    const scratch = e2e.tempDir();
    const ran = join(scratch, 'ran');
    const lines = () => (existsSync(ran) ? readFileSync(ran, 'utf8').split('\n').filter(Boolean) : []);
    const nodes = await startNodes(e2e, store, 2);
    await nodes[0]!.daemon.submit('ticker', ['--every', '1s', `--script=echo ran >> ${ran}`]);
    await waitFor('the ticker to run once', () => lines().length >= 1);
    const stoppedAt = Date.now();
    await Promise.all(nodes.map((node) => node.daemon.stop()));
    const before = lines().length;
    // Both down while at least three fires pass, then both back at once.
    await waitFor('three fires to pass while the cluster is down', () => Date.now() >= stoppedAt + 3_500 || undefined, { timeoutMs: 10_000, intervalMs: 100 });
    const restartedAt = Date.now();
    const back = await Promise.all(nodes.map((node) => e2e.restart(node.daemon, { startTimeoutMs: 60_000 })));
    const task = await waitFor(
      'the missed fires to be recorded',
      async () => {
        const found = await back[1]!.existingTask<TaskView>('ticker');
        return (found.results as RunView[]).some((run) => run.outcome === 'skipped' && /fires passed while/.test(run.error ?? '')) ? found : undefined;
      },
      { timeoutMs: 30_000 },
    );
    await Promise.all(back.map((daemon) => daemon.cli(['stop', 'ticker'])));
    const runs = (await back[0]!.existingTask<TaskView>('ticker')).results as RunView[];
    // Exactly one record of the fires missed while the cluster was down, right after the runs
    // before the stop. (A tick skipped because the run before it still executed, or a fire a
    // node just started came to more than a second late, on a loaded machine, is another
    // record, of a fire after the restart.)
    const skipped = runs.filter((run) => run.outcome === 'skipped' && /fires passed while/.test(run.error ?? '') && Date.parse(run.scheduledAt) < restartedAt);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.error).toMatch(/fires passed while the task could not run.*catch-up once/);
    const afterSkip = runs.slice(runs.indexOf(skipped[0]!) + 1);
    // The catch-up run follows it: one run for the missed fires, not one per node.
    expect(afterSkip[0]!.outcome).not.toBe('skipped');
    expect(new Set(runs.map((run) => run.scheduledAt)).size).toBe(runs.length);
    expect(task.results!.length).toBeGreaterThan(before);
  });
});
