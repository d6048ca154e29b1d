/**
 * Tokens with roles from the config file, through the real daemon and CLI: a viewer's CLI
 * reads and is refused a submit (403 forbidden, exit 3), an operator's submits and cannot
 * delete, Prometheus' metrics token reads /metrics and nothing else, and the daemon's own
 * token stays an admin's.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
const tokens = { admin: 'the-admins-token', operator: 'the-operators-token', viewer: 'the-viewers-token', metrics: 'prometheus-token' };
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
let daemon: DaemonProcess;

beforeAll(async () => {
  const config = join(e2e.tempDir('scheduler-e2e-roles-'), 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      tokens: [
        { name: 'ci', role: 'operator', sha256: sha256(tokens.operator) },
        { name: 'dashboard', role: 'viewer', sha256: sha256(tokens.viewer) },
        { name: 'prometheus', role: 'metrics', sha256: sha256(tokens.metrics) },
      ],
    }),
  );
  daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: tokens.admin }, args: ['--config', config] });
});

const cliAs = (role: keyof typeof tokens, args: string[]) => daemon.cli(args, { env: { SCHEDULER_TOKEN: tokens[role] } });

describe('tokens with roles', () => {
  test("the operator submits, the viewer reads it and is refused a change, exit 3 naming its token's role", async () => {
    const submitted = await cliAs('operator', ['submit', 'shared', '-type=cron', '-time=1h', '-script=true']);
    expect(submitted.code, submitted.stderr).toBe(0);
    const read = await cliAs('viewer', ['get', 'shared']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('shared');
    const refused = await cliAs('viewer', ['stop', 'shared']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/the token "dashboard" has the role viewer, which may not PUT \/api\/tasks\/shared/);
  });

  test('the operator cannot delete; the admin (the daemon\'s own token) can', async () => {
    await cliAs('operator', ['submit', 'doomed', '-type=cron', '-time=1h', '-script=true']);
    const refused = await cliAs('operator', ['delete', 'doomed']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/role operator/);
    const deleted = await cliAs('admin', ['delete', 'doomed']);
    expect(deleted.code, deleted.stderr).toBe(0);
  });

  test('the metrics token reads /metrics and nothing else', async () => {
    const metrics = await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${tokens.metrics}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^scheduler_runs_active \d+$/m);
    const api = await fetch(`${daemon.url}/api/tasks`, { headers: { authorization: `Bearer ${tokens.metrics}` } });
    expect(api.status).toBe(403);
    expect((await api.json()).error.code).toBe('forbidden');
  });
});
