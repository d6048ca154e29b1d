/**
 * Failover between real daemons sharing one PostgreSQL schema (leases of 2s, renewed every
 * 500ms): a node that dies has its run recorded interrupted by another node once the lease
 * expires, and a retry runs elsewhere; a node paused past its lease cannot record the end of
 * a run that another node recorded meanwhile. Each run's script writes its node's home
 * (SCHEDULER_DAEMON_ID) to a file: that is how the tests know which node ran what.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunView, TaskView } from '../support/api-views.js';
import { clusterStartTimeoutMs, nodeWithHome, startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { processesOfTask } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let nodes: ClusterNode[];
let scratch: string;

beforeAll(async () => {
  nodes = await startNodes(e2e, store, 3, ['--lease', '2s', '--lease-renew', '500ms']);
  scratch = e2e.tempDir();
}, clusterStartTimeoutMs);

afterAll(() => {
  // A node killed with SIGKILL leaves its run's processes behind (its restart would end them).
  for (const node of nodes) for (const pid of processesOfTask(node.home, 'lost')) process.kill(pid, 'SIGKILL');
});

/** The homes written to `file`, a line per run that started. */
function homesIn(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** The runs of `id` as `node` reads them, oldest first. */
async function runsOf(node: ClusterNode, id: string): Promise<RunView[]> {
  return ((await node.daemon.existingTask<TaskView>(id)).results ?? []) as RunView[];
}

describe('a cluster of three daemons on one PostgreSQL', () => {
  test('SIGKILL of the node executing a run: another node records it interrupted after the lease, with the output written so far, and the retry runs on a live node', async () => {
    const attempts = join(scratch, 'lost-attempts');
    await nodes[0]!.daemon.submit('lost', [
      '--type', 'delay', '--time', '100ms', '--retries', '1', '--retry-delay', '100ms',
      `--script=echo "$SCHEDULER_DAEMON_ID" >> ${attempts}; if [ "$(wc -l < ${attempts})" -gt 1 ]; then echo second; exit 0; fi; echo first; sleep 60`,
    ]);
    const [firstHome] = await waitFor('the first attempt to start on some node', () => (homesIn(attempts).length > 0 ? homesIn(attempts) : undefined));
    const victim = nodeWithHome(nodes, firstHome!);
    const survivors = nodes.filter((node) => node !== victim);
    // Its output reaches the database with a renewal: wait for it, then kill the node.
    await waitFor('the output of the first attempt to be written to the database', async () => (await runsOf(survivors[0]!, 'lost'))[0]?.stdout === 'first\n');
    await victim.daemon.kill();

    const runs = await waitFor(
      'the run to be recorded interrupted and its retry to succeed',
      async () => {
        const found = await runsOf(survivors[0]!, 'lost');
        return found.length === 2 && found[1]!.outcome === 'succeeded' ? found : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(runs[0]).toMatchObject({ run: 1, attempt: 1, outcome: 'interrupted', stdout: 'first\n' });
    expect(runs[0]!.error).toMatch(/stopped renewing its lease/);
    expect(runs[1]).toMatchObject({ run: 2, attempt: 2, outcome: 'succeeded', stdout: 'second\n' });
    // Exactly two attempts started, the second on a node still alive.
    const homes = homesIn(attempts);
    expect(homes).toHaveLength(2);
    expect(survivors.map((node) => node.home)).toContain(homes[1]);
    expect((await survivors[1]!.daemon.existingTask('lost')).status).toBe('Executed');
  });

  test('SIGSTOP of a node past its lease while its run ends, then SIGCONT: the late outcome is refused, the one recorded by the other node stands', async () => {
    const started = join(scratch, 'paused-started');
    const go = join(scratch, 'paused-go');
    const live = nodes.filter((node) => node.daemon.running);
    await live[0]!.daemon.submit('paused', [
      '--type', 'delay', '--time', '100ms',
      `--script=echo "$SCHEDULER_DAEMON_ID" >> ${started}; echo started; while [ ! -e ${go} ]; do sleep 0.05; done; echo finished`,
    ]);
    const [home] = await waitFor('the run to start on some node', () => (homesIn(started).length > 0 ? homesIn(started) : undefined));
    const owner = nodeWithHome(live, home!);
    const other = live.find((node) => node !== owner)!;
    await waitFor('the output so far to be written to the database', async () => (await runsOf(other, 'paused'))[0]?.stdout === 'started\n');

    owner.daemon.child.kill('SIGSTOP');
    try {
      const interrupted = await waitFor(
        'another node to record the run interrupted once the lease expired',
        async () => {
          const [run] = await runsOf(other, 'paused');
          return run?.outcome === 'interrupted' ? run : undefined;
        },
        { timeoutMs: 20_000 },
      );
      expect(interrupted.stdout).toBe('started\n');
      // The script ends while its node is paused: its success is what the node will try to record.
      writeFileSync(go, '');
    } finally {
      owner.daemon.child.kill('SIGCONT');
    }
    await waitFor(
      'the resumed node to say the end of its run was not recorded',
      () => /not recorded: it was no longer this node's/.test(owner.daemon.stderr),
      { timeoutMs: 10_000, describe: () => ({ stderr: owner.daemon.stderr }) },
    );
    for (const reader of [owner, other]) {
      const task = await reader.daemon.existingTask<TaskView>('paused');
      expect(task.status).toBe('Executed');
      expect(task.results).toHaveLength(1);
      expect(task.results![0]).toMatchObject({ run: 1, outcome: 'interrupted', stdout: 'started\n' });
    }
    // The resumed node goes on serving.
    expect((await owner.daemon.cli(['list'])).code).toBe(0);
  });
});
