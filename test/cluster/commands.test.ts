/**
 * Commands sent to one node for a run another node executes (three real daemons on one
 * PostgreSQL schema): kill and delete reach the run through a request the owner takes every
 * second; stop follows the spec's stop rules whichever node gets it. Scripts write their
 * node's home (SCHEDULER_DAEMON_ID) and pid: that is how the tests know where a run executes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { TaskView } from '../support/api-views.js';
import { ok } from '../support/cli.js';
import { clusterStartTimeoutMs, nodeWithHome, startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { isProcessAlive } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let nodes: ClusterNode[];
let scratch: string;

beforeAll(async () => {
  nodes = await startNodes(e2e, store, 3);
  scratch = e2e.tempDir();
}, clusterStartTimeoutMs);

/** Submits a long-running delay task through node 0 and waits for its run to start: its owner, another node, and the script's pid. */
async function startLongRun(id: string): Promise<{ owner: ClusterNode; other: ClusterNode; pid: number }> {
  const marker = join(scratch, `${id}.where`);
  await nodes[0]!.daemon.submit(id, ['--type', 'delay', '--time', '100ms', `--script=echo "$SCHEDULER_DAEMON_ID $$" > ${marker}; echo started; sleep 60`]);
  const [home, pid] = await waitFor(`the run of ${id} to start on some node`, () => {
    const line = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : '';
    return line.includes(' ') ? line.split(' ') : undefined;
  });
  const owner = nodeWithHome(nodes, home!);
  return { owner, other: nodes.find((node) => node !== owner)!, pid: Number(pid) };
}

/** The node id a daemon printed as it started. */
function nodeIdOf(node: ClusterNode): string {
  const id = /^node: (\S+)$/m.exec(node.daemon.stdout)?.[1];
  if (!id) throw new Error(`the daemon printed no "node: ID" line:\n${node.daemon.stdout}`);
  return id;
}

describe('commands sent to one node for a run on another', () => {
  test('kill on node B ends the run on node A, and the answer names node A', async () => {
    const { owner, other, pid } = await startLongRun('remote-kill');
    const killed = ok(await other.daemon.cli(['kill', 'remote-kill']), 'kill');
    expect(killed.stdout).toBe(`killed run 1 of remote-kill on node ${nodeIdOf(owner)}; status Executed\n`);
    await waitFor(`the script (pid ${pid}) on the owner to be gone`, () => !isProcessAlive(pid));
    const task = await owner.daemon.existingTask<TaskView>('remote-kill');
    expect(task.results).toMatchObject([{ run: 1, outcome: 'killed', stdout: 'started\n', signal: 'SIGTERM', node: nodeIdOf(owner) }]);
  });

  test('delete on node B removes the task everywhere and ends its run on node A', async () => {
    const { owner, other, pid } = await startLongRun('remote-delete');
    ok(await other.daemon.cli(['delete', 'remote-delete']), 'delete');
    await waitFor(`the script (pid ${pid}) on the owner to be gone`, () => !isProcessAlive(pid));
    for (const node of nodes) expect(await node.daemon.task('remote-delete')).toBeUndefined();
    // The owner goes on serving, and says why the run's end was not recorded.
    expect((await owner.daemon.cli(['list'])).code).toBe(0);
  });

  test('stop on node B of a cron task whose run executes on node A: the run goes on to its end, then the task is Stopped', async () => {
    const marker = join(scratch, 'remote-stop.where');
    const release = join(scratch, 'remote-stop.go');
    await nodes[0]!.daemon.submit('remote-stop', [
      '--every', '1s',
      `--script=echo "$SCHEDULER_DAEMON_ID" > ${marker}; while [ ! -e ${release} ]; do sleep 0.05; done; echo done`,
    ]);
    const home = await waitFor('the run to start on some node', () => (existsSync(marker) ? readFileSync(marker, 'utf8').trim() || undefined : undefined));
    const owner = nodeWithHome(nodes, home);
    const other = nodes.find((node) => node !== owner)!;
    const stopped = ok(await other.daemon.cli(['stop', 'remote-stop']), 'stop');
    expect(stopped.stdout).toMatch(/stopped remote-stop/);
    expect((await other.daemon.existingTask('remote-stop')).status).toBe('Executing');
    writeFileSync(release, '');
    const task = await other.daemon.waitForStatus('remote-stop', 'Stopped');
    expect(task.results![0]).toMatchObject({ run: 1, outcome: 'succeeded', stdout: 'done\n' });
    // The ticks that came while it executed were skipped (the default overlap rule): no second run.
    expect(task.results!.slice(1).every((run) => run.outcome === 'skipped')).toBe(true);
  });
});
