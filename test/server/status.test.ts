/** GET /api/status: the daemon's version, uptime, store and what it is doing. */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/engine/system-clock.js';
import { appVersion, startHarness, submit, waitForStatus, type Harness } from './harness.js';
import { ManualLauncher } from './manual-launcher.js';

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('GET /api/status', () => {
  it('tells the version, when the daemon started, and how many runs are in progress', async () => {
    const launcher = new ManualLauncher();
    harness = await startHarness({ launcher });
    const before = (await harness.app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(before).toMatchObject({ version: appVersion, runsInProgress: 0, eventStreams: 0 });
    expect(Date.parse(before.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(before.uptimeSeconds).toBeGreaterThanOrEqual(0);

    await submit(harness.app, { id: 'busy', type: 'delay', time: '10ms' });
    await waitForStatus(harness.app, 'busy', 'Executing');
    const during = (await harness.app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(during.runsInProgress).toBe(1);
    launcher.runs[0]!.finish();
    await waitForStatus(harness.app, 'busy', 'Executed');
    expect((await harness.app.inject({ method: 'GET', url: '/api/status' })).json().runsInProgress).toBe(0);
  });

  it("tells the start and the uptime by the daemon's clock", async () => {
    let now = Date.parse('2030-01-02T03:04:05.678Z');
    harness = await startHarness({ clock: { ...systemClock, now: () => now } });
    const status = async () => (await harness!.app.inject({ method: 'GET', url: '/api/status' })).json();
    expect(await status()).toMatchObject({ startedAt: '2030-01-02T03:04:05.678Z', uptimeSeconds: 0 });
    now += 90_540;
    expect(await status()).toMatchObject({ startedAt: '2030-01-02T03:04:05.678Z', uptimeSeconds: 90.5 });
  });

  it('needs the token when the daemon has one', async () => {
    harness = await startHarness({ token: 'secret' });
    expect((await harness.app.inject({ method: 'GET', url: '/api/status' })).statusCode).toBe(401);
    const ok = await harness.app.inject({ method: 'GET', url: '/api/status', headers: { authorization: 'Bearer secret' } });
    expect(ok.statusCode).toBe(200);
  });
});
