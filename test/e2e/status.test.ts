/** `scheduler status`: the daemon's version, uptime, store, runs in progress and languages. */
import { beforeAll, describe, expect, test } from 'vitest';
import { parseJson, useE2e, type DaemonProcess } from './harness.js';

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
    expect(human.stdout).toMatch(/^store: +sqlite .*scheduler\.db$/m);
    expect(human.stdout).toMatch(/^runs in progress: 0 \(at most \d+ at once\)$/m);
    expect(human.stdout).toMatch(/^runs waiting: +0$/m);
    expect(human.stdout).toMatch(/^queues: +default: 0 running, 0 waiting$/m);
    expect(human.stdout).toMatch(/^languages: +bash, sh, node, python$/m);

    const json = parseJson<{ version: string; runsInProgress: number; store: { kind: string } }>(await daemon.cli(['status', '--json']));
    expect(json).toMatchObject({ runsInProgress: 0, store: { kind: 'sqlite' } });
    expect(await daemon.api('GET', '/api/status')).toMatchObject({ version: json.version });
  });
});
