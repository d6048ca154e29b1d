/**
 * Browsers' sessions across daemons sharing one PostgreSQL schema (two real daemons): a
 * session opened on one node admits the browser on the other, and a logout on one ends it on
 * the other within the few seconds a node trusts a session it has read.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { clusterStartTimeoutMs, startNodes, type ClusterNode } from '../support/cluster.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const store = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
const token = 'cluster-session-token';
let nodes: ClusterNode[];

beforeAll(async () => {
  const tokenFile = join(e2e.tempDir(), 'token');
  writeFileSync(tokenFile, `${token}\n`);
  nodes = await startNodes(e2e, store, 2, ['--token-file', tokenFile]);
}, clusterStartTimeoutMs);

describe('sessions on a shared store', () => {
  test('a session opened on node A admits the browser on node B; a logout on B ends it on A', async () => {
    const [a, b] = [nodes[0]!.daemon, nodes[1]!.daemon];
    const login = await fetch(`${a.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(login.status).toBe(201);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const statusWith = async (url: string) => (await fetch(`${url}/api/session`, { headers: { cookie } })).status;
    expect(await statusWith(a.url)).toBe(200);
    expect(await statusWith(b.url)).toBe(200);
    expect((await fetch(`${b.url}/api/session`, { method: 'DELETE', headers: { cookie } })).status).toBe(204);
    expect(await statusWith(b.url)).toBe(401);
    // Node A read the session a moment ago and trusts it for up to 5 s more.
    await waitFor('node A to refuse the ended session', async () => (await statusWith(a.url)) === 401, { timeoutMs: 15_000, intervalMs: 250 });
  });
});
