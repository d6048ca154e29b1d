/**
 * Where and how scripts run, end to end: the environment a script gets (and the daemon's
 * token it never gets), its working directory and user, the concurrency cap and queues, and
 * resource limits that end a run and are recorded.
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { ms, type RunView, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';
import { describeAsRoot } from '../support/root.js';

const e2e = useE2e();
const token = 'e2e-secret-token-never-in-scripts';
let daemon: DaemonProcess;
let scratch: string;

interface ExecutionRun extends RunView {
  limit: string | null;
  waitedMs: number | null;
  waiting: boolean;
}

beforeAll(async () => {
  scratch = e2e.tempDir('scheduler-e2e-exec-');
  const config = join(scratch, 'config.json');
  writeFileSync(config, JSON.stringify({ env: { FROM_CONFIG: 'config', LEVEL: 'config' }, queues: { solo: 1 } }));
  daemon = await e2e.startDaemon({
    env: { SCHEDULER_TOKEN: token, DAEMON_ONLY_SECRET: 'daemon-secret' },
    args: ['--config', config, '--max-runs', '2'],
    // SQLite whatever SCHEDULER_TEST_STORE says: the concurrency cap's tests count fires
    // recorded waiting in a lone daemon's line; on a shared PostgreSQL store a node claims only
    // what it has room for and queues are bounded over the cluster (test/cluster/queues.test.ts).
    store: 'sqlite',
  });
});

const cli = (args: string[]) => daemon.cli(args, { env: { SCHEDULER_TOKEN: token } });

async function finished(id: string, timeoutMs = 15_000): Promise<TaskView & { results: ExecutionRun[] }> {
  return (await daemon.waitForStatus(id, 'Executed', timeoutMs)) as TaskView & { results: ExecutionRun[] };
}

describe('the environment of a script', () => {
  test('the base, the config file, --env-file and --env in that order; never the daemon token or its other variables', async () => {
    const envFile = join(scratch, 'vars.env');
    writeFileSync(envFile, '# from a file\nFROM_FILE=file\nLEVEL=file\n');
    ok(await cli(['submit', 'env-layers', '-type=delay', '-time=0s', '--env-file', envFile, '--env', 'LEVEL=flag', '--env', 'WITH_SPACE=a b',
      '--script', 'env | sort']), 'submit');
    const run = (await finished('env-layers')).results[0]!;
    expect(run.outcome).toBe('succeeded');
    const env = Object.fromEntries(run.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    expect(env).toMatchObject({ FROM_CONFIG: 'config', FROM_FILE: 'file', LEVEL: 'flag', WITH_SPACE: 'a b', SCHEDULER_TASK_ID: 'env-layers', SCHEDULER_RUN: '1' });
    expect(env.PATH).toBeTruthy();
    expect(env.HOME).toBeTruthy();
    expect(run.stdout).not.toContain(token);
    expect(run.stdout).not.toContain('SCHEDULER_TOKEN');
    expect(run.stdout).not.toContain('daemon-secret');
  });

  test('the token is not in the environment of any process of the run, children included', async () => {
    ok(await cli(['submit', 'token-hunt', '-type=delay', '-time=0s', '--script',
      'bash -c "cat /proc/self/environ; cat /proc/$$/environ" | tr "\\0" "\\n"; (sleep 0.1; cat /proc/self/environ) | tr "\\0" "\\n"']), 'submit');
    const run = (await finished('token-hunt')).results[0]!;
    expect(run.outcome).toBe('succeeded');
    expect(run.stdout).toContain('SCHEDULER_TASK_ID=token-hunt');
    expect(run.stdout).not.toContain(token);
  });

  test('--cwd sets the working directory; get shows the settings', async () => {
    const dir = join(scratch, 'work dir');
    mkdirSync(dir);
    ok(await cli(['submit', 'in-dir', '-type=delay', '-time=0s', '--cwd', dir, '--env', 'A=1', '--script', 'pwd']), 'submit');
    expect((await finished('in-dir')).results[0]).toMatchObject({ outcome: 'succeeded', stdout: `${realpathSync(dir)}\n` });
    const shown = await cli(['get', 'in-dir']);
    expect(shown.stdout).toMatch(/^cwd: +.*work dir$/m);
    expect(shown.stdout).toMatch(/^env: +A$/m);
    expect(parseJson<{ cwd: string; env: Record<string, string> }>(await cli(['get', 'in-dir', '--json']))).toMatchObject({ cwd: dir, env: { A: '1' } });
  });

  test('bad settings are refused at submit, naming the field', async () => {
    const badEnv = await cli(['submit', 'bad-env', '-type=delay', '-time=1m', '--env', 'SCHEDULER_RUN=9', '--script', 'true']);
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr).toMatch(/env: SCHEDULER_RUN: the daemon sets the SCHEDULER_\* variables/);
    const badQueue = await cli(['submit', 'bad-queue', '-type=delay', '-time=1m', '--queue', 'nope', '--script', 'true']);
    expect(badQueue.stderr).toMatch(/queue: "nope" is not a queue of this daemon \(default, solo\)/);
    const badUser = await cli(['submit', 'bad-user', '-type=delay', '-time=1m', '--user', 'no-such-user-e2e', '--script', 'true']);
    expect(badUser.stderr).toMatch(/user: there is no user "no-such-user-e2e" on this host/);
    expect(await daemon.task('bad-env')).toBeUndefined();
  });
});

describeAsRoot('--user, with the daemon running as root', () => {
  test('runs the script as that user, with its HOME and USER, in its home directory (/ when it has none)', async () => {
    ok(await cli(['submit', 'as-nobody', '-type=delay', '-time=0s', '--user', 'nobody', '--lang', 'sh', '--script', 'id -un; echo "$USER $HOME"; pwd; touch /root/written-by-nobody 2>/dev/null || echo denied']), 'submit');
    const run = (await finished('as-nobody')).results[0]!;
    expect(run.outcome, JSON.stringify(run)).toBe('succeeded');
    expect(run.stdout).toMatch(/^nobody\nnobody \/\S+\n\/\S*\ndenied\n$/);
  });
});

describe('the concurrency cap (--max-runs 2) and queues', () => {
  test('a burst of 6 runs: never more than 2 at once, the rest wait in order and their wait is recorded', async () => {
    const held = gate(scratch, 'burst');
    const ids = Array.from({ length: 6 }, (_, i) => `burst-${i}`);
    for (const id of ids) ok(await cli(['submit', id, '-type=delay', '-time=0s', '--script', `${held.wait}; sleep 0.2`]), `submit ${id}`);
    // All six are due: two run (held at the gate), four wait for a slot.
    await waitForStatusJson((s) => s.runsInProgress === 2 && s.runsWaiting === 4);
    held.open();
    const runs = await Promise.all(ids.map(async (id) => (await finished(id, 20_000)).results[0]!));
    for (const run of runs) expect(run.outcome).toBe('succeeded');
    expect(maxOverlap(runs)).toBe(2);
    const waited = runs.filter((run) => run.waitedMs !== null);
    expect(waited).toHaveLength(4);
    for (const run of waited) expect(run.waitedMs!).toBeGreaterThan(0);
    // The waiting runs started in the order they came due.
    const starts = runs.map((run) => ms(run.startedAt));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  test('a queue with a limit of 1 runs its tasks one at a time', async () => {
    const held = gate(scratch, 'solo');
    const ids = ['solo-a', 'solo-b', 'solo-c'];
    for (const id of ids) ok(await cli(['submit', id, '-type=delay', '-time=0s', '--queue', 'solo', '--script', `${held.wait}; sleep 0.2`]), `submit ${id}`);
    // A global slot is free for each, but the queue lets one run at a time.
    await waitForStatusJson((s) => s.queues.some((queue) => queue.name === 'solo' && queue.running === 1 && queue.waiting === 2));
    held.open();
    const runs = await Promise.all(ids.map(async (id) => (await finished(id, 20_000)).results[0]!));
    expect(maxOverlap(runs)).toBe(1);
    expect(runs.filter((run) => run.waitedMs !== null)).toHaveLength(2);
    expect((await cli(['get', 'solo-a'])).stdout).toMatch(/^queue: +solo$/m);
  });

  test('status shows the runs waiting and the queues; a waiting run says so, and a kill ends it unstarted', async () => {
    // Held at a gate nobody opens: they run until killed, however slow the machine.
    const held = gate(scratch, 'hold');
    for (const id of ['hold-1', 'hold-2', 'hold-3']) ok(await cli(['submit', id, '-type=delay', '-time=0s', '--script', held.wait]), `submit ${id}`);
    const status = await waitForStatusJson((s) => s.runsInProgress === 2 && s.runsWaiting === 1);
    expect(status).toMatchObject({ maxRuns: 2, queues: [{ name: 'default', limit: null }, { name: 'solo', limit: 1, running: 0, waiting: 0 }] });
    const human = await cli(['status']);
    expect(human.stdout).toMatch(/^runs in progress: 2 \(at most 2 at once\)$/m);
    expect(human.stdout).toMatch(/^runs waiting: +1$/m);
    expect(human.stdout).toMatch(/^queues: +default: 2 running, 1 waiting; solo: 0 running, 0 waiting, at most 1$/m);
    // The waiting run says so, in the API, get and runs; the others have started.
    const runsOf = async (id: string) => parseJson<{ results: ExecutionRun[] }>(await cli(['get', id, '--json'])).results;
    const firstRuns = await Promise.all(['hold-1', 'hold-2', 'hold-3'].map(async (id) => (await runsOf(id))[0]!));
    const waiting = firstRuns.filter((run) => run.waiting);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ outcome: 'running', startedAt: null });
    expect(firstRuns.filter((run) => !run.waiting).every((run) => run.startedAt !== null)).toBe(true);
    const waitingId = ['hold-1', 'hold-2', 'hold-3'][firstRuns.indexOf(waiting[0]!)]!;
    expect((await cli(['get', waitingId])).stdout).toMatch(/^ {2}run 1: running, waiting for a free slot, scheduled /m);
    expect((await cli(['runs', waitingId])).stdout).toMatch(/^1 .* waiting +-$/m);
    // Killed while it waits (first, before the others free a slot): it never started.
    ok(await cli(['kill', waitingId]), `kill ${waitingId}`);
    expect((await daemon.waitForStatus(waitingId, 'Executed')).results[0]).toMatchObject({ outcome: 'killed', startedAt: null });
    for (const id of ['hold-1', 'hold-2', 'hold-3'].filter((id) => id !== waitingId)) ok(await cli(['kill', id]), `kill ${id}`);
  });
});

describe('resource limits', () => {
  test('CPU time: a busy loop is ended, recorded as having hit the cpu limit', async () => {
    ok(await cli(['submit', 'cpu-hog', '-type=delay', '-time=0s', '--cpu-limit', '1s', '--script', 'while :; do :; done']), 'submit');
    const run = (await finished('cpu-hog')).results[0]!;
    expect(run).toMatchObject({ outcome: 'failed', limit: 'cpu' });
    expect(run.error).toMatch(/CPU time limit \(1s\)/);
  });

  test('memory: a run that grows past it is ended, recorded as having hit the memory limit', async () => {
    ok(await cli(['submit', 'mem-hog', '-type=delay', '-time=0s', '--memory-limit', '50MiB', '--lang', 'python',
      '--script', 'import time\nb = bytearray(200 * 1024 * 1024)\ntime.sleep(30)']), 'submit');
    const run = (await finished('mem-hog')).results[0]!;
    expect(run).toMatchObject({ outcome: 'failed', limit: 'memory' });
    expect(run.error).toMatch(/memory limit \(50MiB\)/);
  });

  test('processes: a run that forks past it is ended, recorded as having hit the process limit', async () => {
    ok(await cli(['submit', 'fork-hog', '-type=delay', '-time=0s', '--process-limit', '5', '--script', 'for i in $(seq 20); do sleep 30 & done; wait']), 'submit');
    const run = (await finished('fork-hog')).results[0]!;
    expect(run).toMatchObject({ outcome: 'failed', limit: 'processes' });
  });

  test('output: a run that writes past it is ended, recorded as having hit the output limit', async () => {
    ok(await cli(['submit', 'chatty', '-type=delay', '-time=0s', '--output-limit', '64KiB', '--script', 'yes; sleep 30']), 'submit');
    const run = (await finished('chatty')).results[0]!;
    expect(run).toMatchObject({ outcome: 'failed', limit: 'output' });
    expect(run.stdoutBytes).toBeGreaterThan(64 * 1024);
  });

  test('open files: each process gets the limit; a run that fails on it is recorded as having hit the open_files limit', async () => {
    ok(await cli(['submit', 'fd-bound', '-type=delay', '-time=0s', '--open-file-limit', '32', '--script',
      'ulimit -n; for i in $(seq 40); do exec {fd}</dev/null || { echo "stopped at $i"; exit 3; }; done']), 'submit');
    const run = (await finished('fd-bound')).results[0]!;
    expect(run.stdout).toMatch(/^32\nstopped at \d+\n$/);
    expect(run).toMatchObject({ outcome: 'failed', exitCode: 3, limit: 'open_files' });
    expect(run.stderr).toContain('Too many open files');
  });

  test('wall time: --timeout ends the run, recorded as timed out with the wall_time limit', async () => {
    ok(await cli(['submit', 'slow', '-type=delay', '-time=0s', '--timeout', '500ms', '--script', 'sleep 30']), 'submit');
    expect((await finished('slow')).results[0]).toMatchObject({ outcome: 'timed_out', limit: 'wall_time' });
  });

  test('a run within its limits is not ended, and get shows the limits', async () => {
    ok(await cli(['submit', 'modest', '-type=delay', '-time=0s', '--cpu-limit', '10s', '--memory-limit', '256MiB', '--process-limit', '50', '--output-limit', '1MiB',
      '--script', 'echo fine; sleep 0.3']), 'submit');
    expect((await finished('modest')).results[0]).toMatchObject({ outcome: 'succeeded', limit: null, stdout: 'fine\n' });
    expect((await cli(['get', 'modest'])).stdout).toMatch(/^limits: +cpu 10s, memory 256MiB, processes 50, output 1MiB$/m);
  });
});

describe("the daemon's default limits (config file)", () => {
  test("apply to a task that sets none; a task's own limit wins", async () => {
    const config = join(e2e.tempDir('scheduler-e2e-limits-'), 'config.json');
    writeFileSync(config, JSON.stringify({ limits: { output: '1KiB', timeout: '20s' } }));
    const strict = await e2e.startDaemon({ args: ['--config', config] });
    // (Its own bound is seconds: the 5000 bytes must be out before it, on a busy machine too.)
    const print = 'head -c 5000 /dev/zero | tr "\\0" x; sleep 30';
    ok(await strict.cli(['submit', 'default-bound', '-type=delay', '-time=0s', '--script', print]), 'submit');
    ok(await strict.cli(['submit', 'own-bound', '-type=delay', '-time=0s', '--output-limit', '1MiB', '--timeout', '4s', '--script', print]), 'submit');
    const bounded = (await strict.waitForStatus('default-bound', 'Executed')).results[0] as ExecutionRun;
    expect(bounded).toMatchObject({ outcome: 'failed', limit: 'output' });
    const own = (await strict.waitForStatus('own-bound', 'Executed')).results[0] as ExecutionRun;
    expect(own).toMatchObject({ outcome: 'timed_out', limit: 'wall_time', stdoutBytes: 5000 });
  });
});

/** The most runs that were executing at the same instant. */
function maxOverlap(runs: ExecutionRun[]): number {
  const edges = runs.flatMap((run) => [
    { at: ms(run.startedAt), delta: 1 },
    { at: ms(run.finishedAt), delta: -1 },
  ]);
  // An end and a start at the same millisecond do not overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.delta;
    most = Math.max(most, now);
  }
  return most;
}

interface StatusView {
  runsInProgress: number;
  runsWaiting: number;
  maxRuns: number;
  queues: Array<{ name: string; limit: number | null; running: number; waiting: number }>;
}

async function waitForStatusJson(condition: (status: StatusView) => boolean): Promise<StatusView> {
  let last: StatusView | undefined;
  return waitFor('the status to match', async () => {
    last = parseJson<StatusView>(await cli(['status', '--json']));
    return condition(last) && last;
  }, { describe: () => last });
}
