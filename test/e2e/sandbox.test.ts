/**
 * The sandbox end to end: real bubblewrap, run by a real daemon for a task submitted with the
 * real CLI. In it a script cannot write outside its scratch directory, cannot read the
 * daemon's database, cannot open a network connection (unless given --network), cannot see
 * processes outside its run, and leaves nothing behind; a daemon that cannot sandbox refuses
 * sandboxed tasks with what to install.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { RunView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let dataDir: string;
let port: string;

beforeAll(async () => {
  dataDir = e2e.tempDir('scheduler-e2e-sandbox-');
  daemon = await e2e.startDaemon({ dataDir });
  port = new URL(daemon.url).port;
});

/** Runs `script` once in the sandbox (with `flags`) and returns its run. */
async function sandboxed(id: string, script: string, flags: string[] = []): Promise<RunView> {
  ok(await daemon.cli(['submit', id, '-type=delay', '-time=0s', '--sandbox', ...flags, '--script', script]), `submit ${id}`);
  return (await daemon.waitForStatus(id, 'Executed', 15_000)).results[0]!;
}

describe('a sandboxed script', () => {
  test('can write only in its scratch directory (its cwd and HOME) and its private /tmp', async () => {
    const outside = e2e.tempDir('scheduler-e2e-outside-');
    const hostTmpMarker = join(tmpdir(), `scheduler-e2e-host-tmp-${process.pid}`);
    writeFileSync(hostTmpMarker, 'host');
    const run = await sandboxed('writes', [
      'try() { if ( eval "$1" ) 2>/dev/null; then echo "$2: written"; else echo "$2: refused"; fi; }',
      'try "echo x > here.txt" scratch',
      'try "echo x > \\"$HOME/home.txt\\"" home',
      'try "echo x > /tmp/t.txt" tmp',
      'try "echo x > /etc/sandbox-escape" etc',
      'try "echo x > /usr/sandbox-escape" usr',
      `try "echo x > ${outside}/escape" outside`,
      `try "echo x > ${dataDir}/escape" data-dir`,
      `[ -e ${hostTmpMarker} ] && echo "host tmp: visible" || echo "host tmp: not visible"`,
      '[ "$PWD" = "$HOME" ] && echo "cwd is home"',
    ].join('\n'));
    expect(run.outcome, run.stderr).toBe('succeeded');
    expect(run.stdout.split('\n')).toEqual([
      'scratch: written', 'home: written', 'tmp: written',
      'etc: refused', 'usr: refused', 'outside: refused', 'data-dir: refused',
      'host tmp: not visible', 'cwd is home', '',
    ]);
    expect(existsSync('/etc/sandbox-escape')).toBe(false);
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(dataDir, 'escape'))).toBe(false);
  });

  test("cannot read the daemon's database, data directory, the daemon user's home or /etc/shadow", async () => {
    // A file of the daemon user's own, in its home (an interpreter installed there may be
    // shown, read-only; nothing else of the home is).
    const secret = join(homedir(), `.scheduler-e2e-secret-${process.pid}`);
    writeFileSync(secret, 'secret\n', { mode: 0o644 });
    try {
      // The database is a file in the data directory on SQLite, a server on PostgreSQL.
      const readDatabase = daemon.storeUrl === undefined
        ? `cat ${join(dataDir, 'scheduler.db')} >/dev/null 2>&1`
        : `exec 3<>/dev/tcp/${new URL(daemon.storeUrl).hostname}/${new URL(daemon.storeUrl).port || '5432'} 2>/dev/null`;
      const run = await sandboxed('reads', [
        `(${readDatabase}) && echo "db: read" || echo "db: unreadable"`,
        `ls ${dataDir} >/dev/null 2>&1 && echo "data dir: listed" || echo "data dir: absent"`,
        `cat ${secret} >/dev/null 2>&1 && echo "home file: read" || echo "home file: absent"`,
        'cat /etc/shadow >/dev/null 2>&1 && echo "shadow: read" || echo "shadow: unreadable"',
      ].join('\n'));
      expect(run.stdout).toBe('db: unreadable\ndata dir: absent\nhome file: absent\nshadow: unreadable\n');
    } finally {
      rmSync(secret, { force: true });
    }
  });

  test('cannot open a network connection, not even to the daemon on loopback; with --network it can', async () => {
    const probe = `exec 3<>/dev/tcp/127.0.0.1/${port} 2>/dev/null && echo connected || echo "no network"`;
    expect((await sandboxed('offline', probe)).stdout).toBe('no network\n');
    expect((await sandboxed('online', probe, ['--network'])).stdout).toBe('connected\n');
    expect((await daemon.cli(['get', 'online'])).stdout).toMatch(/^sandbox: +yes, with network$/m);
  });

  test('sees only the processes of its own run, and cannot signal the daemon', async () => {
    const daemonPid = Number(readFileSync(`/proc/self/stat`, 'utf8').split(' ')[0]); // any host process: this test's
    const run = await sandboxed('pids', [
      'sleep 5 & sleep 5 &',
      'echo "processes: $(ls /proc | grep -c "^[0-9]")"',
      `kill -0 ${daemonPid} 2>/dev/null && echo "host process: signalled" || echo "host process: out of reach"`,
      'kill %1 %2',
    ].join('\n'));
    const count = Number(/^processes: (\d+)$/m.exec(run.stdout)?.[1]);
    // bwrap's init, the shell, its two sleeps, ls and grep: a handful, not the host's hundreds.
    expect(count).toBeGreaterThanOrEqual(3);
    expect(count).toBeLessThanOrEqual(8);
    expect(run.stdout).toContain('host process: out of reach');
  });

  test('runs the other languages too: their interpreters are shown read-only wherever they are installed', async () => {
    const python = await daemon.cli(['submit', 'py-boxed', '-type=delay', '-time=0s', '--sandbox', '--lang', 'python', '--script',
      'import os\nprint(os.getcwd() == os.environ["HOME"], os.getuid() == 0)']);
    ok(python, 'submit python');
    const node = await daemon.cli(['submit', 'node-boxed', '-type=delay', '-time=0s', '--sandbox', '--lang', 'node', '--script', 'console.log(process.cwd() === process.env.HOME)']);
    ok(node, 'submit node');
    const [py, js] = await Promise.all([daemon.waitForStatus('py-boxed', 'Executed', 15_000), daemon.waitForStatus('node-boxed', 'Executed', 15_000)]);
    expect(py.results[0], JSON.stringify(py.results[0])).toMatchObject({ outcome: 'succeeded', stdout: 'True False\n' });
    expect(js.results[0], JSON.stringify(js.results[0])).toMatchObject({ outcome: 'succeeded', stdout: 'true\n' });
  });

  test('leaves nothing behind: its daemonised children are gone and its scratch directory removed', async () => {
    const marker = `scheduler-e2e-leftover-${process.pid}`;
    const run = await sandboxed('leftovers', `echo data > kept.txt; setsid bash -c 'exec -a ${marker} sleep 300' & disown; echo started`);
    expect(run.stdout).toBe('started\n');
    await waitFor('the daemonised child to be gone', () => !processWithArgv0(marker));
    const runs = readdirSync(tmpdir()).filter((name) => name.startsWith('scheduler-runs-'));
    for (const root of runs) expect(readdirSync(join(tmpdir(), root)).filter((name) => name.startsWith('leftovers.'))).toEqual([]);
  });
});

describe('a daemon and the sandbox setting', () => {
  test('status says the sandbox is available and how tasks get it', async () => {
    const status = parseJson<{ sandbox: { mode: string; available: boolean; detail: string } }>(await daemon.cli(['status', '--json']));
    expect(status.sandbox).toMatchObject({ mode: 'optional', available: true });
    expect(status.sandbox.detail).toMatch(/^bubblewrap \d+\.\d+/);
    expect((await daemon.cli(['status'])).stdout).toMatch(/^sandbox: +available \(bubblewrap [\d.]+\); tasks submitted with --sandbox run in it$/m);
  });

  test('--sandbox required: every task is sandboxed, and --no-sandbox is refused', async () => {
    const strict = await e2e.startDaemon({ args: ['--sandbox', 'required'] });
    ok(await strict.cli(['submit', 'implicit', '-type=delay', '-time=0s', '--script', 'touch /etc/x 2>/dev/null && echo written || echo refused']), 'submit');
    const task = await strict.waitForStatus('implicit', 'Executed');
    expect(task.results[0]!.stdout).toBe('refused\n');
    const refused = await strict.cli(['submit', 'opt-out', '-type=delay', '-time=1m', '--no-sandbox', '--script', 'true']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/sandbox: this daemon runs every script in its sandbox/);
  });

  test('--sandbox required after the fact: a task stored unsandboxed fails to start, saying so, rather than run outside', async () => {
    const before = await e2e.startDaemon();
    ok(await before.cli(['submit', 'old-plain', '--every', '1h', '--script', 'echo outside']), 'submit');
    await before.stop();
    const strict = await e2e.restart(before, { args: ['--sandbox', 'required'] });
    ok(await strict.cli(['run', 'old-plain']), 'run now');
    const task = await strict.waitForTask('old-plain', 'its run to end', (t) => t.results.some((run) => run.finishedAt !== null));
    expect(task.results[0]).toMatchObject({ outcome: 'failed', stdout: '' });
    expect(task.results[0]!.error).toMatch(/this daemon runs every script in its sandbox \(--sandbox required\), and this task was submitted without it; submit it again/);
  });

  test('without a working bubblewrap: sandboxed tasks are refused saying what to install; --sandbox required does not start', async () => {
    const config = join(e2e.tempDir('scheduler-e2e-nobwrap-'), 'config.json');
    writeFileSync(config, JSON.stringify({ sandbox: { bwrap: '/nonexistent/bwrap' } }));
    const without = await e2e.startDaemon({ args: ['--config', config] });
    const refused = await without.cli(['submit', 'boxed', '-type=delay', '-time=1m', '--sandbox', '--script', 'true']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/sandbox: the sandbox cannot work on this host: bubblewrap is not installed: apt-get install bubblewrap/);
    expect(await without.task('boxed')).toBeUndefined();
    ok(await without.cli(['submit', 'plain', '-type=delay', '-time=1m', '--script', 'true']), 'an unsandboxed task is still accepted');

    await expect(e2e.startDaemon({ args: ['--config', config, '--sandbox', 'required'], startTimeoutMs: 30_000 })).rejects.toThrow(/--sandbox required: the sandbox cannot work on this host: bubblewrap is not installed/);
  });
});

/** Whether a host process runs with `argv0` as its name. */
function processWithArgv0(argv0: string): boolean {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === argv0) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}
