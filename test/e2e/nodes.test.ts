/**
 * `scheduler nodes` and GET /api/nodes with real daemons: two daemons on one PostgreSQL
 * schema (each with its own data directory) list each other, each marking itself; a daemon
 * killed with SIGKILL goes stale once its heartbeats stop; one stopped cleanly shows as
 * stopped. A daemon on SQLite lists itself alone. /healthz names the store and the node.
 */
import { describe, expect, test } from 'vitest';
import { ok, parseJson, type CliResult } from '../support/cli.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { TcpLink } from '../support/tcp-link.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();

interface NodeView {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  heartbeatAt: string;
  runsExecuting: number;
  state: 'alive' | 'stale' | 'stopped';
  stoppedAt: string | null;
  self: boolean;
}

/** The node id a daemon printed when it started ("node: ID"). */
async function nodeIdOf(daemon: DaemonProcess): Promise<string> {
  await daemon.waitForStdout(/^node: \S+$/m);
  return /^node: (\S+)$/m.exec(daemon.stdout)![1]!;
}

/** GET /api/nodes straight from the API, for polling (a CLI process per poll would load the machine). */
async function nodesOf(daemon: DaemonProcess): Promise<NodeView[]> {
  return ((await daemon.api('GET', '/api/nodes')) as { nodes: NodeView[] }).nodes;
}

/** Waits until `daemon` lists the node `id` in `state`. */
function waitForNodeState(daemon: DaemonProcess, id: string, state: NodeView['state'], timeoutMs = 15_000): Promise<true> {
  let last: NodeView[] = [];
  return waitFor(`${daemon.url} to list node ${id} as ${state}`, async () => {
    last = await nodesOf(daemon);
    return last.some((node) => node.id === id && node.state === state) || undefined;
  }, { timeoutMs, describe: () => last });
}

/** What `scheduler nodes` printed; fails unless it exited 0. */
function tableOf(result: CliResult): string {
  return ok(result, 'scheduler nodes').stdout.trimEnd();
}

/** The table row of `id` in `scheduler nodes` output. */
function rowOf(table: string, id: string): string {
  const row = table.split('\n').find((line) => line.startsWith(`${id} `));
  if (!row) throw new Error(`no row for ${id} in:\n${table}`);
  return row;
}

describe('scheduler nodes', () => {
  test('two daemons on one PostgreSQL schema list each other; a killed one goes stale, a stopped one shows stopped', async () => {
    const schema = await useTestSchema();
    const url = new URL(testPostgresUrl);
    url.searchParams.set('schema', schema);
    // A short heartbeat, so that staleness (3 missed beats) shows within a couple of seconds.
    const args = ['--store', url.toString(), '--node-heartbeat', '500ms'];
    const [a, b] = await Promise.all([e2e.startDaemon({ args }), e2e.startDaemon({ args })]);
    const [idA, idB] = await Promise.all([nodeIdOf(a!), nodeIdOf(b!)]);
    expect(idA).not.toBe(idB);
    expect(idA).toMatch(new RegExp(`-${a!.child.pid}-[0-9a-f]{8}$`));

    await waitForNodeState(a!, idB, 'alive');
    await waitForNodeState(b!, idA, 'alive');
    for (const [daemon, self, other] of [[a!, idA, idB], [b!, idB, idA]] as const) {
      const table = tableOf(await daemon.cli(['nodes']));
      expect(table.split('\n')[0]).toMatch(/^ID +HOST +VERSION +STARTED +HEARTBEAT +RUNS +STATE$/);
      expect(table.split('\n')).toHaveLength(3);
      expect(rowOf(table, self)).toMatch(/ \d+ +(alive|stale) \(self\)$/);
      expect(rowOf(table, other)).not.toMatch(/\(self\)/);
      const json = parseJson<NodeView[]>(await daemon.cli(['nodes', '--json']));
      expect(json.map((node) => [node.id, node.self]).sort()).toEqual([[idA, idA === self], [idB, idB === self]].sort());
      const mine = json.find((node) => node.self)!;
      expect(mine).toMatchObject({ pid: daemon.child.pid, runsExecuting: 0, stoppedAt: null, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    }
    const health = (await (await fetch(`${a!.url}/healthz`)).json()) as { status: string; store: string; node: { id: string; state: string } };
    expect(health).toEqual({ status: 'ok', store: 'postgres', node: { id: idA, state: 'alive' } });

    // The runs a node executes travel with its heartbeat.
    await a!.submit('long', ['--type', 'delay', '--time', '1ms', '--script', 'sleep 30']);
    await waitFor('node A to report its run', async () => (await nodesOf(b!)).find((node) => node.id === idA)?.runsExecuting === 1 || undefined, { timeoutMs: 15_000 });

    await b!.kill();
    await waitForNodeState(a!, idB, 'stale');
    expect(rowOf(tableOf(await a!.cli(['nodes'])), idB)).toMatch(/ stale$/);

    // A stop is seen from another node: a third daemon on the schema watches A stop.
    const c = await e2e.startDaemon({ args });
    const idC = await nodeIdOf(c);
    expect((await a!.stop()).code).toBe(0);
    await waitForNodeState(c, idA, 'stopped');
    const fromC = await nodesOf(c);
    expect(fromC.map((node) => [node.id, node.state, node.self])).toEqual([
      [idC, 'alive', true],
      [idB, 'stale', false],
      [idA, 'stopped', false],
    ]);
    expect(fromC.find((node) => node.id === idA)).toMatchObject({ runsExecuting: 0, stoppedAt: expect.any(String) });
    expect(rowOf(tableOf(await c.cli(['nodes'])), idA)).toMatch(/ stopped$/);
    // Stopped before the test's schema is dropped.
    await c.stop();
  }, 60_000);

  test('a daemon that loses its database keeps running: its heartbeat failures are logged, /healthz says stale, and it comes back alive', async () => {
    const schema = await useTestSchema();
    const server = new URL(testPostgresUrl);
    const link = await new TcpLink(server.hostname, Number(server.port || 5432)).open();
    const url = new URL(testPostgresUrl);
    url.port = String(link.port);
    url.searchParams.set('schema', schema);
    const daemon = await e2e.startDaemon({ args: ['--store', url.toString(), '--node-heartbeat', '300ms'] });
    const id = await nodeIdOf(daemon);
    await waitForNodeState(daemon, id, 'alive');

    await link.cut();
    let last: unknown;
    await waitFor('/healthz to say the node is stale while the database is away', async () => {
      const response = await fetch(`${daemon.url}/healthz`);
      last = await response.json();
      return response.status === 503 && (last as { node?: { state: string } }).node?.state === 'stale';
    }, { timeoutMs: 15_000, describe: () => last });
    expect(last).toMatchObject({ status: 'unavailable', code: 'store_unavailable', store: 'postgres', node: { id, state: 'stale' } });
    await waitFor('the failed heartbeat to be logged', () => /could not record this node's heartbeat in the store/.test(daemon.stderr), { timeoutMs: 10_000, describe: () => daemon.stderr });
    expect(daemon.running).toBe(true);

    await link.open();
    await waitForNodeState(daemon, id, 'alive');
    expect(await (await fetch(`${daemon.url}/healthz`)).json()).toEqual({ status: 'ok', store: 'postgres', node: { id, state: 'alive' } });
    await daemon.stop();
    await link.cut();
  }, 60_000);

  test('a daemon on SQLite lists itself alone', async () => {
    // SQLite whatever SCHEDULER_TEST_STORE says: that is what it is about.
    const daemon = await e2e.startDaemon({ store: 'sqlite' });
    const id = await nodeIdOf(daemon);
    const table = tableOf(await daemon.cli(['nodes'])).split('\n');
    expect(table).toHaveLength(2);
    expect(table[1]).toMatch(new RegExp(`^${id} +\\S+ +\\d+\\.\\d+\\.\\d+\\S* +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +.+ +0 +alive \\(self\\)$`));
    const json = parseJson<NodeView[]>(await daemon.cli(['nodes', '--json']));
    expect(json).toEqual([expect.objectContaining({ id, pid: daemon.child.pid, state: 'alive', self: true, stoppedAt: null })]);
    expect(await (await fetch(`${daemon.url}/healthz`)).json()).toEqual({ status: 'ok', store: 'sqlite', node: { id, state: 'alive' } });
    expect(await daemon.api('GET', '/api/status')).toMatchObject({ node: id, store: { kind: 'sqlite' } });
  });
});
