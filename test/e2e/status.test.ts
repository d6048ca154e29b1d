/** `scheduler status`: the daemon's version, uptime, store, runs in progress and languages. */
import { beforeAll, describe, expect, test } from 'vitest';
import { parseJson } from '../support/cli.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { testPostgresUrl } from '../support/postgres.js';
import { schemaOfStoreUrl } from '../support/test-store.js';

const e2e = useE2e();
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
});

describe('scheduler status', () => {
  test('prints the version, uptime, store, runs in progress and languages; --json the same as the API', async () => {
    const human = await daemon.cli(['status']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^version: +\d+\.\d+\.\d+/m);
    expect(human.stdout).toMatch(/^up since: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(.+\)$/m);
    // The store SCHEDULER_TEST_STORE picked: SQLite in the data directory, or a schema on the test server.
    expect(human.stdout).toMatch(
      daemon.storeUrl === undefined ? /^store: +sqlite .*scheduler\.db$/m : new RegExp(`^store: +postgres \\S+ schema ${schemaOfStoreUrl(daemon.storeUrl)}$`, 'm'),
    );
    expect(human.stdout).toMatch(/^runs in progress: 0 \(at most \d+ at once\)$/m);
    expect(human.stdout).toMatch(/^runs waiting: +0$/m);
    expect(human.stdout).toMatch(/^queues: +default: 0 running, 0 waiting$/m);
    expect(human.stdout).toMatch(/^languages: +bash, sh, node, python$/m);

    const json = parseJson<{ version: string; runsInProgress: number; store: { kind: string } }>(await daemon.cli(['status', '--json']));
    expect(json).toMatchObject({ runsInProgress: 0, store: { kind: daemon.storeUrl === undefined ? 'sqlite' : 'postgres' } });
    expect(await daemon.api('GET', '/api/status')).toMatchObject({ version: json.version });
  });

  test('on PostgreSQL (whatever SCHEDULER_TEST_STORE says): names the server and the schema, never the password', async () => {
    // A password in the URL: the test server's own if it has one, else one it ignores (trust).
    const url = new URL(e2e.sharedPostgresStore());
    if (url.password === '') url.password = 'not-for-status-eyes';
    const password = decodeURIComponent(url.password);
    const onPostgres = await e2e.startDaemon({ store: url.toString() });
    const server = new URL(testPostgresUrl);
    const location = `${server.hostname}:${server.port || '5432'}${server.pathname} schema ${schemaOfStoreUrl(url.toString())}`;

    const status = (await onPostgres.api('GET', '/api/status')) as { store: { kind: string; location: string } };
    expect(status.store).toEqual({ kind: 'postgres', location });
    const human = await onPostgres.cli(['status']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`store:            postgres ${location}\n`);
    for (const said of [JSON.stringify(status), human.stdout, onPostgres.stdout, onPostgres.stderr]) expect(said).not.toContain(password);
  });
});
