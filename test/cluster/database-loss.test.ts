/**
 * Two real daemons sharing PostgreSQL while the database goes away under them: their
 * connections ended by the server (pg_terminate_backend), and a restart of the server (a
 * private one the test owns: the shared one must not restart under other tests). Meanwhile a
 * task fires every second and tasks are submitted, retried by the client while the daemon
 * answers 503. Afterwards nothing acknowledged is lost, no fire has run twice, and both
 * daemons serve again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunView, TaskView } from '../support/api-views.js';
import { useE2e } from '../support/e2e-context.js';
import { dataDirId } from '../../src/daemon/data-dir.js';
import type { DaemonProcess } from '../support/daemon.js';
import { connectForTests, randomSchemaName, testPostgresUrl } from '../support/postgres.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { itAsRoot } from '../support/root.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const servers: PrivatePostgres[] = [];
const schemas: string[] = [];

afterAll(async () => {
  for (const server of servers) server.remove();
  if (schemas.length === 0) return;
  const admin = await connectForTests();
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** POSTs a task until a daemon acknowledges it: a 503 (the store away) is retried, as a client should. */
async function submitUntilAcknowledged(daemon: DaemonProcess, body: object): Promise<void> {
  await waitFor(
    'the submit to be acknowledged',
    async () => {
      const response = await fetch(`${daemon.url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (response.status === 201) return true;
      // Acknowledged before, its answer lost: the id is taken by the very task.
      if (response.status === 409) return true;
      if (response.status !== 503) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
      return undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, describe: () => ({ daemonExit: daemon.exitStatus, stderr: daemon.stderr.slice(-3000) }) },
  );
}

/**
 * Two daemons on `store`; a task every second and submits through the first while
 * `disrupt` runs three times; then checks that nothing was lost or fired twice.
 */
async function survives(store: string, disrupt: (round: number, nodes: DaemonProcess[]) => Promise<void>): Promise<void> {
  const scratch = e2e.tempDir();
  const nodes: DaemonProcess[] = [];
  for (let index = 0; index < 2; index++) {
    nodes.push(await e2e.startDaemon({ args: ['--store', store, '--lease', '3s', '--lease-renew', '500ms'], startTimeoutMs: 60_000 }));
  }
  const [a, b] = nodes as [DaemonProcess, DaemonProcess];
  const ticks = join(scratch, 'ticks');
  const ran = join(scratch, 'ran');
  await a.submit('ticker', ['--every', '1s', `--script=echo "$SCHEDULER_DAEMON_ID" >> ${ticks}`]);
  const acknowledged: string[] = [];
  for (let round = 0; round < 3; round++) {
    const before = lines(ticks).length;
    await disrupt(round, nodes);
    for (let index = 0; index < 5; index++) {
      const id = `job-${round}-${index}`;
      await submitUntilAcknowledged(a, { id, type: 'delay', time: '100ms', script: `echo ${id} >> ${ran}` });
      acknowledged.push(id);
    }
    await waitFor('the ticker to fire again after the disruption', () => lines(ticks).length > before, { timeoutMs: 30_000 });
  }
  await waitFor('the ticker to be stopped', async () => (await b.cli(['stop', 'ticker'])).code === 0, { timeoutMs: 30_000 });
  await waitFor('every acknowledged task to have run', () => acknowledged.every((id) => lines(ran).includes(id)), { timeoutMs: 30_000 });

  // Nothing acknowledged lost, nothing run twice.
  expect([...lines(ran)].sort()).toEqual([...acknowledged].sort());
  // A run's end that the store refused while it was down is held and committed once it is
  // back, a little after the script's line: waited for, not read at once.
  await waitFor('every acknowledged task to be recorded Executed', async () => {
    for (const id of acknowledged) if ((await b.existingTask<TaskView>(id)).status !== 'Executed') return false;
    return true;
  }, { timeoutMs: 30_000 });
  const ticker = await waitFor('the ticker to be recorded ended', async () => {
    const task = await a.existingTask<TaskView>('ticker');
    return task.status === 'Stopped' ? task : undefined;
  }, { timeoutMs: 30_000 });
  const runs = ticker.results as RunView[];
  const scheduled = runs.map((run) => run.scheduledAt);
  expect(new Set(scheduled).size).toBe(scheduled.length);
  const started = runs.filter((run) => run.outcome !== 'skipped');
  // Every run that started is recorded once, and every script that ran has its run.
  expect(lines(ticks).length).toBe(started.length);
  const homes = new Set(nodes.map((node) => dataDirId(node.dataDir)));
  for (const home of lines(ticks)) expect(homes.has(home)).toBe(true);
  // Both serve again, their store usable.
  for (const node of nodes) {
    await waitFor('the daemon to answer /healthz 200', async () => (await fetch(`${node.url}/healthz`)).status === 200, { timeoutMs: 30_000 });
  }
}

describe('a cluster losing its database', () => {
  it("pg_terminate_backend of a node's connections, three times: nothing acknowledged lost, nothing fired twice", async () => {
    const schema = randomSchemaName();
    schemas.push(schema);
    const url = new URL(testPostgresUrl);
    url.searchParams.set('schema', schema);
    await survives(url.toString(), async (_round, [first]) => {
      const id = /^node: (\S+)$/m.exec(first!.stdout)?.[1];
      const admin = await connectForTests();
      try {
        const ended = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`scheduler ${id}`]);
        expect(ended.rowCount).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
    });
  }, 180_000);

  itAsRoot('a restart of the PostgreSQL server, three times: nothing acknowledged lost, nothing fired twice', async () => {
    const server = await PrivatePostgres.start();
    servers.push(server);
    await survives(`${server.url}?schema=cluster`, async () => server.restart());
  }, 180_000);
});
