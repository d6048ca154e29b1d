/**
 * `scheduler token create|list|revoke` against a real daemon: a made token is printed once,
 * works with its role at once, is listed without its value, and is refused once revoked; it
 * survives a restart of the daemon (the store keeps its SHA-256); only an admin makes tokens.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();
const adminToken = 'tokens-test-admin';
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: adminToken } });
});

const cliWith = (token: string, args: string[]) => daemon.cli(args, { env: { SCHEDULER_TOKEN: token } });

describe('scheduler token', () => {
  test('create prints a token once that works with its role; list shows it without its value; revoke ends it; a restart keeps it', async () => {
    const made = await cliWith(adminToken, ['token', 'create', '--name', 'reader', '--role', 'viewer']);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^sch_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toMatch(/shown this once/);

    expect((await cliWith(token, ['list'])).code).toBe(0);
    const refused = await cliWith(token, ['submit', 'nope', '-type=delay', '-time=1h', '-script=true']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/the token "reader" has the role viewer/);

    const listed = await cliWith(adminToken, ['token', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^admin +admin +daemon +-$/m);
    expect(listed.stdout).toMatch(/^reader +viewer +created +\d{4}-/m);
    expect(listed.stdout).not.toContain(token);

    await daemon.stop();
    daemon = await e2e.restart(daemon);
    expect((await cliWith(token, ['list'])).code).toBe(0);

    const revoked = await cliWith(adminToken, ['token', 'revoke', 'reader']);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await cliWith(token, ['list']);
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/missing or wrong bearer token/);
  });

  test("only an admin makes tokens; a name taken is refused; the daemon's own token cannot be revoked here", async () => {
    const made = await cliWith(adminToken, ['token', 'create', '--name', 'ops', '--role', 'operator']);
    expect(made.code, made.stderr).toBe(0);
    const operator = made.stdout.trim();
    const byOperator = await cliWith(operator, ['token', 'create', '--name', 'escalated', '--role', 'admin']);
    expect(byOperator.code).toBe(3);
    expect(byOperator.stderr).toMatch(/role operator/);
    const again = await cliWith(adminToken, ['token', 'create', '--name', 'ops', '--role', 'viewer']);
    expect(again.code).toBe(5);
    const own = await cliWith(adminToken, ['token', 'revoke', 'admin']);
    expect(own.code).toBe(6);
    expect(own.stderr).toMatch(/the daemon's own/);
  });
});

describe('scheduler audit', () => {
  test('shows the changes asked of the daemon, newest first, with the token that asked and the answer', async () => {
    const made = await cliWith(adminToken, ['token', 'create', '--name', 'auditee', '--role', 'operator']);
    const operator = made.stdout.trim();
    expect((await cliWith(operator, ['submit', 'audited-task', '-type=cron', '-time=1h', '-script=true'])).code).toBe(0);
    expect((await cliWith(operator, ['delete', 'audited-task'])).code).toBe(3);
    const json = await waitForAudit(2);
    expect(json.slice(0, 2).map((entry) => [entry.token, entry.method, entry.path, entry.taskId, entry.status])).toEqual([
      ['auditee', 'DELETE', '/api/tasks/audited-task', 'audited-task', 403],
      ['auditee', 'POST', '/api/tasks', 'audited-task', 201],
    ]);
    const table = await cliWith(adminToken, ['audit', '--limit', '5']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^WHEN +TOKEN +ROLE +WHAT +TASK +STATUS +FROM$/m);
    expect(table.stdout).toMatch(/ auditee +operator +DELETE \/api\/tasks\/audited-task +audited-task +403 +127\.0\.0\.1$/m);
    expect((await cliWith(operator, ['audit'])).code).toBe(3);
  });
});

/** The audit log as the CLI prints it in JSON, once it holds entries of the task "audited-task" (written within 100 ms). */
async function waitForAudit(count: number): Promise<Array<{ token: string; method: string; path: string; taskId: string; status: number }>> {
  return waitFor('the entries to be written', async () => {
    const listed = await cliWith(adminToken, ['audit', '--json']);
    const entries = JSON.parse(listed.stdout) as Array<{ token: string; method: string; path: string; taskId: string; status: number }>;
    return entries.filter((entry) => entry.taskId === 'audited-task').length >= count ? entries : undefined;
  });
}
