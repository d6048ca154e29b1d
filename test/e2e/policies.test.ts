/**
 * Run policies end to end, with a real daemon, the real CLI and real processes: retries
 * (`--retries`, `--retry-delay`, `--retry-on`), the overlap rules `queue` and `replace`,
 * catch-up of the fires missed while the daemon was down (`--catch-up none|once|all`,
 * `--catch-up-window`), and jitter (`--jitter`).
 *
 * Runs are held at gate files for as long as a test needs; "it did not happen" is shown by a
 * final status or by the scheduler having passed the time, never by sleeping. The one wait on
 * the clock is the downtime of a killed daemon, when there is no daemon to ask. Times are
 * compared with the grid and with each other, never with how long something took, except
 * for lower bounds the design guarantees (a retry waits at least half its delay).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, type ExpectStatic } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { waitForGroupGone } from '../support/processes.js';
import { ms, type RunView, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate, type Gate } from '../support/gate.js';
import { killedLine } from '../support/test-store.js';
import { daemonFireAheadMs } from '../../src/daemon/daemon.js';

const e2e = useE2e();
/** The CLI prints times in its zone: UTC, so that they compare with the API's. */
const cliEnv = { env: { TZ: 'UTC' } };

/** A run with the fields policies add. */
type PolicyRun = RunView & { attempt: number };
/** A task with the fields policies add. */
type PolicyTask = Omit<TaskView, 'results'> & {
  results: PolicyRun[];
  overlap: string;
  retries: number;
  retryDelay: string | null;
  retryMaxDelay: string | null;
  retryOn: number[] | null;
  catchUp: string;
  catchUpWindow: string | null;
  jitter: string | null;
};

async function submit(daemon: DaemonProcess, id: string, flags: string[]): Promise<PolicyTask> {
  return parseJson<PolicyTask>(ok(await daemon.cli(['submit', id, ...flags, '--json'], cliEnv), `submit ${id}`));
}

/** A script that counts its invocations in `file`, prints "attempt N", and exits `code` until the `okFrom`th. */
function counting(file: string, okFrom: number, code = 3): string {
  return `n=$(( $(cat '${file}' 2>/dev/null || echo 0) + 1 )); echo $n > '${file}'; echo "attempt $n"; [ $n -ge ${okFrom} ] || exit ${code}`;
}

function readCount(file: string): number {
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
}

/** The lines of a file (none if it does not exist). */
function fileLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((line) => line !== '') : [];
}

const iso = (at: number): string => new Date(at).toISOString();
const finished = (run: PolicyRun): boolean => run.finishedAt !== null;

/**
 * Fails when a fire was recorded twice (as a run and as skipped, say): each record of a first
 * attempt serves a fire of its own. (Retries serve the fire of the run they retry.)
 */
function expectEachFireOnce(expect: ExpectStatic, results: PolicyRun[]): void {
  const fires = results.filter((r) => r.attempt === 1).map((r) => r.scheduledAt);
  expect(new Set(fires).size, `a fire recorded twice:\n${describeRecords(results)}`).toBe(fires.length);
}

/** The records of a task, one line each, for failure messages. */
function describeRecords(results: PolicyRun[]): string {
  return results.map((r) => `${r.run} ${r.scheduledAt} attempt ${r.attempt} ${r.outcome}${r.error ? ` (${r.error})` : ''}`).join('\n');
}

let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

describe.concurrent('retries', () => {
  test('a run that fails twice (exit 3) is retried with the same fire, and the third attempt succeeds; runs shows ATTEMPT', async ({ expect }) => {
    const count = join(scratch, 'flaky.count');
    const submitted = await submit(daemon, 'flaky', ['-type=delay', '-time=100ms', '--retries', '5', '--retry-delay', '100ms', '--script', counting(count, 3)]);
    expect(submitted).toMatchObject({ retries: 5, retryDelay: '100ms', retryMaxDelay: '1h0m0s', retryOn: null, overlap: 'skip', catchUp: 'once' });

    const done = await daemon.waitForTask<PolicyTask>('flaky', 'Executed', (t) => t.status === 'Executed');
    expect(done.results.map(({ run, attempt, scheduledAt, outcome, exitCode, stdout }) => ({ run, attempt, scheduledAt, outcome, exitCode, stdout }))).toEqual([
      { run: 1, attempt: 1, scheduledAt: submitted.nextRunAt, outcome: 'failed', exitCode: 3, stdout: 'attempt 1\n' },
      { run: 2, attempt: 2, scheduledAt: submitted.nextRunAt, outcome: 'failed', exitCode: 3, stdout: 'attempt 2\n' },
      { run: 3, attempt: 3, scheduledAt: submitted.nextRunAt, outcome: 'succeeded', exitCode: 0, stdout: 'attempt 3\n' },
    ]);
    expect(readCount(count)).toBe(3); // nothing ran after the success
    // Retry n waits retryDelay * 2^(n-1), less at most half of it: at least 50ms, then 100ms.
    const [first, second, third] = done.results as [PolicyRun, PolicyRun, PolicyRun];
    expect(ms(second.startedAt) - ms(first.finishedAt)).toBeGreaterThanOrEqual(50);
    expect(ms(third.startedAt) - ms(second.finishedAt)).toBeGreaterThanOrEqual(100);

    const runs = ok(await daemon.cli(['runs', 'flaky'], cliEnv), 'runs');
    const lines = runs.stdout.split('\n').filter((line) => line !== '');
    expect(lines[0]).toMatch(/^RUN +SCHEDULED +ATTEMPT +STARTED +DURATION +OUTCOME +EXIT$/);
    const scheduled = submitted.nextRunAt!.slice(0, 19).replace('T', ' ');
    expect(lines.slice(1)).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^3 +${scheduled} +3 +\\S+ \\S+ +\\S+ +succeeded +0$`));
    expect(lines[2]).toMatch(new RegExp(`^2 +${scheduled} +2 +\\S+ \\S+ +\\S+ +failed +3$`));
    expect(lines[3]).toMatch(new RegExp(`^1 +${scheduled} +1 +\\S+ \\S+ +\\S+ +failed +3$`));
    const json = parseJson<PolicyRun[]>(ok(await daemon.cli(['runs', 'flaky', '--json'], cliEnv), 'runs --json'));
    expect(json.map((r) => [r.run, r.attempt])).toEqual([[3, 3], [2, 2], [1, 1]]);
  });

  test('--retry-on: an exit code not listed is not retried; a listed one is', async ({ expect }) => {
    const notListed = join(scratch, 'retry-on-4.count');
    const listed = join(scratch, 'retry-on-2-3.count');
    // Each would succeed on its second attempt, so a retry would show.
    await submit(daemon, 'retry-on-4', ['-type=delay', '-time=100ms', '--retries', '3', '--retry-delay', '100ms', '--retry-on', '4', '--script', counting(notListed, 2)]);
    const other = await submit(daemon, 'retry-on-2-3', ['-type=delay', '-time=100ms', '--retries', '3', '--retry-delay', '100ms', '--retry-on', '2,3', '--script', counting(listed, 2)]);
    expect(other.retryOn).toEqual([2, 3]);

    // Executed is final: a retry pending would have kept it WaitForNextExecution.
    const once = await daemon.waitForTask<PolicyTask>('retry-on-4', 'Executed', (t) => t.status === 'Executed');
    expect(once.retryOn).toEqual([4]);
    expect(once.results).toMatchObject([{ run: 1, attempt: 1, outcome: 'failed', exitCode: 3 }]);
    expect(once.results).toHaveLength(1);
    expect(readCount(notListed)).toBe(1);

    const retried = await daemon.waitForTask<PolicyTask>('retry-on-2-3', 'Executed', (t) => t.status === 'Executed');
    expect(retried.results).toMatchObject([
      { run: 1, attempt: 1, outcome: 'failed', exitCode: 3 },
      { run: 2, attempt: 2, outcome: 'succeeded', exitCode: 0, scheduledAt: retried.results[0]!.scheduledAt },
    ]);
    expect(retried.results).toHaveLength(2);
  });

  test('retries run out: --retries 2 gives three attempts, all failed, then the task is Executed', async ({ expect }) => {
    const count = join(scratch, 'hopeless.count');
    await submit(daemon, 'hopeless', ['-type=delay', '-time=100ms', '--retries', '2', '--retry-delay', '100ms', '--script', counting(count, 1000)]);
    const done = await daemon.waitForTask<PolicyTask>('hopeless', 'Executed', (t) => t.status === 'Executed');
    expect(done.results.map((r) => [r.run, r.attempt, r.outcome, r.exitCode])).toEqual([
      [1, 1, 'failed', 3],
      [2, 2, 'failed', 3],
      [3, 3, 'failed', 3],
    ]);
    expect(new Set(done.results.map((r) => r.scheduledAt)).size).toBe(1);
    expect(readCount(count)).toBe(3);
  });

  test('a run killed by the user is not retried', async ({ expect }) => {
    const count = join(scratch, 'killed-retry.count');
    const release = gate(scratch, 'killed-retry');
    await submit(daemon, 'killed-retry', ['-type=delay', '-time=100ms', '--retries', '3', '--retry-delay', '100ms', '--script', `${counting(count, 1)}; ${release.wait}`]);
    await waitFor('the run to start', () => readCount(count) === 1);
    expect(await daemon.cli(['kill', 'killed-retry'])).toMatchObject({ code: 0, stdout: expect.stringMatching(killedLine('killed-retry', 'Executed')) });
    const done = await daemon.existingTask<PolicyTask>('killed-retry');
    expect(done.status).toBe('Executed');
    expect(done.results).toMatchObject([{ run: 1, attempt: 1, outcome: 'killed' }]);
    expect(done.results).toHaveLength(1);
    release.open();
  });

  test('a recurring task: a retry due before the next fire serves the same fire; one due after it is not made', async ({ expect }) => {
    const count = join(scratch, 'cron-retry.count');
    // Fails once; the retry (50-100ms later) comes long before the next fire, 4s later.
    await submit(daemon, 'cron-retry', ['--every', '4s', '--retries', '3', '--retry-delay', '100ms', '--script', counting(count, 2)]);
    // Always fails; its first retry would wait at least 1s, after the next fire (500ms later).
    await submit(daemon, 'cron-late-retry', ['--every', '500ms', '--retries', '3', '--retry-delay', '2s', '--script', 'exit 3']);

    // (A tick that comes while a run executes, on a busy machine, is recorded skipped.)
    const late = await daemon.waitForTask<PolicyTask>('cron-late-retry', 'two failed runs', (t) => t.results.filter((r) => r.outcome === 'failed').length >= 2);
    ok(await daemon.cli(['stop', 'cron-late-retry']), 'stop');
    const lateRuns = late.results.filter(finished);
    for (const run of lateRuns) expect(run, JSON.stringify(run)).toMatchObject({ attempt: 1 });
    expect(lateRuns.filter((r) => r.outcome === 'failed').length).toBeGreaterThanOrEqual(2);
    expect(new Set(lateRuns.map((r) => r.scheduledAt)).size).toBe(lateRuns.length);
    for (const run of lateRuns) expect((ms(run.scheduledAt) - ms(late.start)) % 500, run.scheduledAt).toBe(0);

    const seen = await daemon.waitForTask<PolicyTask>('cron-retry', 'three finished runs', (t) => t.results.filter(finished).length >= 3, 30_000);
    ok(await daemon.cli(['stop', 'cron-retry']), 'stop');
    const [first, retry, next] = seen.results as [PolicyRun, PolicyRun, PolicyRun];
    expect(first).toMatchObject({ run: 1, attempt: 1, outcome: 'failed', exitCode: 3, scheduledAt: seen.start });
    expect(retry).toMatchObject({ run: 2, attempt: 2, outcome: 'succeeded', scheduledAt: seen.start });
    // The schedule goes on on its grid after the retry.
    expect(next).toMatchObject({ run: 3, attempt: 1, outcome: 'succeeded', scheduledAt: iso(ms(seen.start) + 4000) });
  });
});

/**
 * The fire that waited for run 1 (overlap queue) ran at its own time: a fire of the task's
 * 300ms grid after run 1's and before the first skipped one. It is the fire just before the
 * skipped one unless the daemon woke so late that the catch-up rule folded fires together.
 */
function expectWaitingFire(expect: ExpectStatic, waited: PolicyRun, run1: PolicyRun, firstSkipped: PolicyRun, records: string): void {
  const fire = ms(waited.scheduledAt);
  expect(fire, records).toBeGreaterThan(ms(run1.scheduledAt));
  expect(fire, records).toBeLessThan(ms(firstSkipped.scheduledAt));
  expect((fire - ms(run1.scheduledAt)) % 300, records).toBe(0);
}

/**
 * A task every 300ms whose run 1 is held at a gate; later runs go straight through. Each
 * run appends "RUN PID" to `log` first, so the log says how many processes ran the script.
 */
async function heldQueueTask(expect: ExpectStatic, id: string): Promise<{ log: string; release: Gate }> {
  const log = join(scratch, `${id}.log`);
  const release = gate(scratch, id);
  const script = `echo "$SCHEDULER_RUN $$" >> '${log}'; if [ "$SCHEDULER_RUN" = 1 ]; then ${release.wait}; fi; echo "run $SCHEDULER_RUN done"`;
  const submitted = await submit(daemon, id, ['--every', '300ms', '--overlap', 'queue', '--script', script]);
  expect(submitted.overlap).toBe('queue');
  await daemon.waitForTask<PolicyTask>(id, 'run 1 executing', (t) => t.results[0]?.outcome === 'running' && fileLines(log).length === 1);
  return { log, release };
}

describe.concurrent('overlap', () => {
  test('queue: while a run is held, the next fire waits (no second process), a further one is skipped; the waiting fire runs once the run ends', async ({ expect }) => {
    const { log, release } = await heldQueueTask(expect, 'queued');
    const held = await daemon.waitForTask<PolicyTask>('queued', 'a skipped fire', (t) => t.results.some((r) => r.outcome === 'skipped'));
    expect(fileLines(log)).toHaveLength(1); // the queued fire has not started a process
    release.open();

    const [run1, skipped] = held.results as [PolicyRun, PolicyRun];
    expect(run1).toMatchObject({ run: 1, outcome: 'running' });
    expect(skipped).toMatchObject({ run: 2, outcome: 'skipped', startedAt: null });
    expect(skipped.error).toBe('run 1 was still executing and a run was already waiting');

    const after = await daemon.waitForTask<PolicyTask>('queued', 'the queued fire to have run', (t) =>
      t.results.some((r) => r.run > 1 && r.outcome !== 'skipped' && finished(r)),
    );
    ok(await daemon.cli(['stop', 'queued']), 'stop');
    const ended = after.results.find((r) => r.run === 1)!;
    expect(ended).toMatchObject({ outcome: 'succeeded', stdout: 'run 1 done\n' });
    const queued = after.results.find((r) => r.run > 1 && r.outcome !== 'skipped')!;
    // Every record between run 1 and the queued run is a fire skipped while run 1 was held.
    const skips = after.results.filter((r) => r.run > 1 && r.run < queued.run);
    expect(skips.length).toBeGreaterThanOrEqual(1);
    for (const skip of skips) expect(skip.error, JSON.stringify(skip)).toBe('run 1 was still executing and a run was already waiting');
    expect(queued, describeRecords(after.results)).toMatchObject({ attempt: 1, outcome: 'succeeded', stdout: `run ${queued.run} done\n` });
    // The fire that waited came before the first skipped one (300ms after run 1's, unless the
    // daemon was late), and runs with its own time.
    expectWaitingFire(expect, queued, run1, skipped, describeRecords(after.results));
    expect(ms(queued.startedAt)).toBeGreaterThanOrEqual(ms(ended.finishedAt));
    expect(fileLines(log)[1]).toMatch(new RegExp(`^${queued.run} \\d+$`));
    expectEachFireOnce(expect, after.results);
  });

  test('replace: the next fire ends the run in progress (its whole process group), recorded killed, "replaced by the fire at ..."; that fire runs', async ({ expect }) => {
    const pidFile = join(scratch, 'replaced.pid');
    // Run 1 forks a background child and an orphaned grandchild, then waits; later runs finish at once.
    const script = `if [ "$SCHEDULER_RUN" = 1 ]; then echo $$ > '${pidFile}'; sleep 30 & ( sleep 30 & ); echo spawned; wait; fi; echo "run $SCHEDULER_RUN done"`;
    const submitted = await submit(daemon, 'replaced', ['--every', '1s', '--overlap', 'replace', '--script', script]);
    expect(submitted.overlap).toBe('replace');
    const pgid = await waitFor('run 1 to write its pid', () => {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      return pid > 0 ? pid : undefined;
    });
    const after = await daemon.waitForTask<PolicyTask>('replaced', 'run 1 replaced and the next run over', (t) =>
      t.results[0]?.outcome === 'killed' && t.results.some((r) => r.run > 1 && r.outcome === 'succeeded'),
    );
    ok(await daemon.cli(['stop', 'replaced']), 'stop');
    await waitForGroupGone(pgid);

    const run1 = after.results[0]!;
    // The replacing run: the next record, unless a busy machine was slow enough to record a
    // later fire as skipped while run 1 was being replaced.
    const run2 = after.results.find((r) => r.run > 1 && r.outcome !== 'skipped')!;
    for (const skipped of after.results.filter((r) => r.run > 1 && r.run < run2.run)) expect(skipped.error, JSON.stringify(skipped)).toMatch(/being replaced already/);
    // "spawned": the family was up when the fire came, and it is gone now.
    expect(run1).toMatchObject({ run: 1, outcome: 'killed', signal: 'SIGTERM', stdout: 'spawned\n' });
    const replacingFire = /^replaced by the fire at (\S+) \(SIGTERM\)$/.exec(run1.error ?? '')?.[1];
    expect(replacingFire, run1.error ?? 'no error').toBeDefined();
    // A later fire of the task's grid (the next one, unless the daemon was late).
    expect(ms(replacingFire) - ms(run1.scheduledAt)).toBeGreaterThan(0);
    expect((ms(replacingFire) - ms(run1.scheduledAt)) % 1000).toBe(0);
    expect(run2, describeRecords(after.results)).toMatchObject({ attempt: 1, scheduledAt: replacingFire, outcome: 'succeeded', stdout: `run ${run2.run} done\n` });
    expect(ms(run2.startedAt)).toBeGreaterThanOrEqual(ms(run1.finishedAt));
    expectEachFireOnce(expect, after.results);
  });
});

/**
 * A fire that waits for a run to end (overlap queue, or replace) is served as it is when it
 * finally runs, however long it waited: it is not re-planned by the catch-up rule as a
 * "missed" fire (which once made it never run, and recorded later fires twice).
 */
describe.concurrent('a fire that waited more than 1s for a run to end', () => {
  test('queue: the queued fire runs once the held run ends, however long that took; no fire is recorded twice', async ({ expect }) => {
    const { release } = await heldQueueTask(expect, 'queued-long');
    // Held until the queued fire is more than 1s old: four more fires (900ms .. 1.8s after it) skipped.
    const held = await daemon.waitForTask<PolicyTask>('queued-long', 'four skipped fires', (t) => t.results.filter((r) => r.outcome === 'skipped').length >= 4);
    release.open();
    expect(held.results[1]).toMatchObject({ run: 2, outcome: 'skipped', error: 'run 1 was still executing and a run was already waiting' });
    const after = await daemon.waitForTask<PolicyTask>('queued-long', 'a run after run 1', (t) =>
      t.results.some((r) => r.run > 1 && r.outcome !== 'skipped' && finished(r)),
    );
    ok(await daemon.cli(['stop', 'queued-long']), 'stop');
    const next = after.results.find((r) => r.run > 1 && r.outcome !== 'skipped')!;
    // Not planned again as a missed fire: it keeps its time, before every skipped one.
    expectWaitingFire(expect, next, held.results[0]!, held.results[1]!, describeRecords(after.results));
    expectEachFireOnce(expect, after.results);
  });

  test('replace: a run that takes a while to die (a child ignores TERM) is replaced by the fire that ended it', async ({ expect }) => {
    // The TERM-ignoring child holds the run until KILL, --kill-grace (2s) after the fire.
    const own = await e2e.startDaemon({ args: ['--kill-grace', '2s'] });
    const script = `if [ "$SCHEDULER_RUN" = 1 ]; then ( trap '' TERM; exec sleep 30 ) & echo spawned; wait; fi; echo "run $SCHEDULER_RUN done"`;
    await submit(own, 'stubborn', ['--every', '1s', '--overlap', 'replace', '--script', script]);
    const after = await own.waitForTask<PolicyTask>('stubborn', 'run 1 replaced and a later run over', (t) =>
      t.results[0]?.outcome === 'killed' && t.results.some((r) => r.run > 1 && r.outcome === 'succeeded'),
    15_000);
    ok(await own.cli(['stop', 'stubborn']), 'stop');
    const run1 = after.results[0]!;
    const replacingFire = /^replaced by the fire at (\S+) \(SIGTERM\)$/.exec(run1.error ?? '')?.[1];
    expect(replacingFire, run1.error ?? 'no error').toBeDefined();
    const records = describeRecords(after.results);
    const firstRun = after.results.find((r) => r.run > 1 && r.outcome !== 'skipped')!;
    expect(firstRun.scheduledAt, records).toBe(replacingFire);
    expectEachFireOnce(expect, after.results);
  });
});

describe.concurrent('catch-up after the daemon was down', () => {
  const every = 300;
  const why = 'passed while the task could not run \\(the daemon was not running, or was busy\\)';
  let restarted: DaemonProcess;
  /** Test-clock times: just before the kill, and just before the new daemon was started. */
  let killedAt: number;
  let restartAt: number;
  let delayDue: number;
  let marker: string;
  /** cu-all-held holds its first run after the restart here. */
  let heldGate: Gate;

  beforeAll(async () => {
    const first = await e2e.startDaemon();
    const dir = e2e.tempDir();
    marker = join(dir, 'delay-none.ran');
    heldGate = gate(dir, 'cu-all-held');
    // Once armed (after the kill), the first run to take the lock waits at the gate.
    const armed = join(dir, 'armed');
    const heldScript = `if [ -e '${armed}' ] && mkdir '${join(dir, 'taken')}' 2>/dev/null; then ${heldGate.wait}; fi; echo ran $SCHEDULER_RUN`;
    const recurring = [
      ['cu-once', ['--catch-up', 'once']],
      ['cu-none', ['--catch-up', 'none']],
      ['cu-all', ['--catch-up', 'all']],
      ['cu-all-window', ['--catch-up', 'all', '--catch-up-window', '1s']],
    ] as const;
    await Promise.all(recurring.map(([id, flags]) => submit(first, id, ['--every', `${every}ms`, ...flags, '--script', 'echo ran $SCHEDULER_RUN'])));
    await submit(first, 'cu-all-held', ['--every', `${every}ms`, '--catch-up', 'all', '--script', heldScript]);
    await Promise.all([...recurring.map(([id]) => id), 'cu-all-held'].map((id) => first.waitForTask(id, 'a finished run', (t) => t.results.some((r) => r.outcome === 'succeeded'))));
    // Due while the daemon is down: far enough ahead that the submit and the kill come first
    // even when a busy machine takes seconds to start a CLI.
    const delay = await submit(first, 'cu-delay-none', ['-type=delay', '-time=5s', '--catch-up', 'none', '--script', `touch '${marker}'`]);
    delayDue = ms(delay.nextRunAt);
    killedAt = Date.now();
    await first.kill();
    writeFileSync(armed, '');
    expect(delayDue, 'the delay task came due before the kill').toBeGreaterThan(killedAt);
    // Down for a while (on the clock: there is no daemon to ask): several fires of each task pass.
    await waitFor('several fires to pass while the daemon is down', () => Date.now() > Math.max(killedAt + 3000, delayDue + 1500), { timeoutMs: 20_000 });
    restartAt = Date.now();
    restarted = await e2e.restart(first);
  });

  /** The catch-up record of a task: its one skipped result written by the restarted daemon. */
  function catchUpRecord(t: PolicyTask): PolicyRun | undefined {
    return t.results.find((r) => r.outcome === 'skipped' && ms(r.finishedAt) >= restartAt && /passed while the task could not run/.test(r.error ?? ''));
  }

  test('once: one skipped record counting the missed fires, then one run serving the latest of them', async ({ expect }) => {
    const seen = await restarted.waitForTask<PolicyTask>('cu-once', 'the catch-up record and run', (t) => {
      const record = catchUpRecord(t);
      return record !== undefined && t.results.some((r) => r.run === record.run + 1 && finished(r));
    });
    ok(await restarted.cli(['stop', 'cu-once']), 'stop');
    const record = catchUpRecord(seen)!;
    const missed = Number(new RegExp(`^(\\d+) fires ${why}; catch-up once: the latest runs instead$`).exec(record.error ?? '')?.[1]);
    expect(missed, record.error ?? 'no reason').toBeGreaterThanOrEqual(5);
    expect(record).toMatchObject({ attempt: 1, startedAt: null, exitCode: null });
    // Before it, only what ran before the kill.
    for (const before of seen.results.filter((r) => r.run < record.run)) expect(ms(before.scheduledAt)).toBeLessThan(ms(record.scheduledAt));
    // A daemon fires a little ahead of the due time: the fire due just after the kill may have been its last.
    expect(ms(record.scheduledAt)).toBeLessThanOrEqual(killedAt + every + daemonFireAheadMs);
    expect((ms(record.scheduledAt) - ms(seen.start)) % every).toBe(0);

    // The run: the latest fire that had passed, right after the record.
    const run = seen.results.find((r) => r.run === record.run + 1)!;
    expect(run).toMatchObject({ attempt: 1, outcome: 'succeeded', stdout: `ran ${run.run}\n` });
    expect(run.scheduledAt).toBe(iso(ms(record.scheduledAt) + missed * every));
    // Counted at the moment of the catch-up (the record's time): no later fire had passed.
    expect(ms(run.scheduledAt)).toBeLessThanOrEqual(ms(record.finishedAt));
    expect(ms(run.scheduledAt) + every).toBeGreaterThan(ms(record.finishedAt));
    expect(seen.results.filter((r) => /passed while the task could not run/.test(r.error ?? ''))).toHaveLength(1);
  });

  test('none: one skipped record counting the missed fires and no run for them; the schedule goes on from its next fire', async ({ expect }) => {
    const seen = await restarted.waitForTask<PolicyTask>('cu-none', 'the catch-up record and the next run', (t) => {
      const record = catchUpRecord(t);
      return record !== undefined && t.results.some((r) => r.run === record.run + 1 && finished(r));
    });
    ok(await restarted.cli(['stop', 'cu-none']), 'stop');
    const record = catchUpRecord(seen)!;
    const missed = Number(new RegExp(`^(\\d+) fires ${why}; catch-up none: not run$`).exec(record.error ?? '')?.[1]);
    expect(missed, record.error ?? 'no reason').toBeGreaterThanOrEqual(5);
    const lastMissed = ms(record.scheduledAt) + (missed - 1) * every;
    expect(lastMissed).toBeLessThanOrEqual(ms(record.finishedAt));
    // No run served any of them.
    for (const run of seen.results.filter((r) => r.outcome !== 'skipped')) {
      expect(ms(run.scheduledAt) < ms(record.scheduledAt) || ms(run.scheduledAt) > lastMissed, JSON.stringify(run)).toBe(true);
    }
    // The next record is the run of the first fire after the restart.
    const next = seen.results.find((r) => r.run === record.run + 1)!;
    expect(next).toMatchObject({ attempt: 1, outcome: 'succeeded', scheduledAt: iso(lastMissed + every) });
    expect(ms(next.scheduledAt)).toBeGreaterThan(ms(record.finishedAt));
  });

  test('all: each missed fire runs, one after another, in order; none is recorded skipped', async ({ expect }) => {
    const start = ms((await restarted.existingTask<PolicyTask>('cu-all')).start);
    // Every fire more than 1s older than the restart was missed.
    const lastMissed = start + Math.floor((restartAt - 1000 - start) / every) * every;
    const seen = await restarted.waitForTask<PolicyTask>('cu-all', 'a run of each missed fire', (t) =>
      t.results.some((r) => ms(r.scheduledAt) >= lastMissed && r.outcome === 'succeeded' && ms(r.startedAt) >= restartAt),
    );
    ok(await restarted.cli(['stop', 'cu-all']), 'stop');
    const records = describeRecords(seen.results);
    // (A fire that comes during a catch-up run joins the backlog; one that comes during the run that
    // ends the catch-up, less than 1s late, may be skipped by the overlap rule: later than the missed ones.)
    expect(seen.results.filter((r) => r.outcome === 'skipped' && ms(r.scheduledAt) <= lastMissed && ms(r.finishedAt) >= restartAt), records).toEqual([]);
    expectEachFireOnce(expect, seen.results);
    const before = seen.results.filter((r) => r.startedAt !== null && ms(r.startedAt) < restartAt);
    const after = seen.results.filter((r) => r.startedAt !== null && ms(r.startedAt) >= restartAt);
    const firstMissed = ms(after[0]!.scheduledAt);
    expect(firstMissed).toBeGreaterThan(Math.max(...before.map((r) => ms(r.scheduledAt))));
    expect(firstMissed).toBeLessThanOrEqual(killedAt + every + daemonFireAheadMs);
    const missed = (lastMissed - firstMissed) / every + 1;
    expect(missed, records).toBeGreaterThanOrEqual(5);
    // One run per missed fire, in order, numbered one after another.
    const catchUp = after.slice(0, missed);
    expect(catchUp.map((r) => r.scheduledAt), records).toEqual(Array.from({ length: missed }, (_, k) => iso(firstMissed + k * every)));
    catchUp.forEach((run, k) => expect(run, records).toMatchObject({ run: catchUp[0]!.run + k, attempt: 1, outcome: 'succeeded' }));
    for (let k = 1; k < catchUp.length; k++) expect(ms(catchUp[k]!.startedAt)).toBeGreaterThanOrEqual(ms(catchUp[k - 1]!.finishedAt));
  });

  test('all with --catch-up-window 1s: the fires older than the window are one skipped record; those within it run in order', async ({ expect }) => {
    // Runs only: a regular fire that comes during a catch-up run is skipped, which is not what this is about.
    const runsAfter = (t: PolicyTask, record: PolicyRun) => t.results.filter((r) => r.run > record.run && r.outcome !== 'skipped');
    const seen = await restarted.waitForTask<PolicyTask>('cu-all-window', 'the catch-up record and two runs', (t) => {
      const record = catchUpRecord(t);
      return record !== undefined && runsAfter(t, record).filter(finished).length >= 2;
    });
    ok(await restarted.cli(['stop', 'cu-all-window']), 'stop');
    expect(seen.catchUpWindow).toBe('1s');
    const record = catchUpRecord(seen)!;
    const skipped = Number(new RegExp(`^(\\d+) fires ${why}, beyond the catch-up bound or window: not run$`).exec(record.error ?? '')?.[1]);
    expect(skipped, record.error ?? 'no reason').toBeGreaterThanOrEqual(2);
    const at = ms(record.finishedAt); // when the catch-up was planned
    const firstRun = ms(record.scheduledAt) + skipped * every;
    expect(firstRun - every).toBeLessThan(at - 1000); // the last skipped one was outside the window
    expect(firstRun).toBeGreaterThanOrEqual(at - 1000); // the first run is within it
    const [run1, run2] = runsAfter(seen, record) as [PolicyRun, PolicyRun];
    expect(run1, describeRecords(seen.results)).toMatchObject({ run: record.run + 1, attempt: 1, outcome: 'succeeded', scheduledAt: iso(firstRun) });
    // The next run serves a later fire on the grid: the next one, unless the first run took so
    // long on a loaded machine that the fires after it fell out of the 1s window themselves
    // (then recorded skipped, with the window as the reason).
    expect(run2, describeRecords(seen.results)).toMatchObject({ attempt: 1, outcome: 'succeeded' });
    const step = (ms(run2.scheduledAt) - firstRun) / every;
    expect(Number.isInteger(step) && step >= 1, describeRecords(seen.results)).toBe(true);
    for (const between of seen.results.filter((r) => r.run > run1.run && r.run < run2.run)) {
      expect(between, describeRecords(seen.results)).toMatchObject({ outcome: 'skipped' });
    }
  });

  /**
   * A fire that comes while a catch-up run executes joins the backlog. (It was once recorded
   * skipped, "catching up missed fires", and then run as well when the catch-up reached it.)
   */
  test('all: the fires that come while a catch-up run executes are each run once, in order, when it ends', async ({ expect }) => {
    // The first catch-up run is held while regular fires come: 1.5s, so the first of them is then over 1s late.
    const held = await restarted.waitForTask<PolicyTask>('cu-all-held', 'the first catch-up run to be held', (t) =>
      t.results.some((r) => r.outcome === 'running' && ms(r.startedAt) >= restartAt),
    );
    const heldRun = held.results.find((r) => r.outcome === 'running')!;
    await restarted.waitUntilSchedulerPassed(ms(heldRun.startedAt) + 1500);
    const releasedAt = Date.now();
    heldGate.open();
    // Over once a fire that came after the release has run.
    const seen = await restarted.waitForTask<PolicyTask>('cu-all-held', 'the catch-up to be over (a fire after the release run)', (t) =>
      t.results.some((r) => r.outcome === 'succeeded' && ms(r.scheduledAt) > releasedAt),
    );
    ok(await restarted.cli(['stop', 'cu-all-held']), 'stop');
    const records = describeRecords(seen.results);
    expect(seen.results.find((r) => r.run === heldRun.run), records).toMatchObject({ outcome: 'succeeded', scheduledAt: heldRun.scheduledAt });
    // The fires more than 1s old at the release had been missed: each ran, in order, after the held run.
    const missed: string[] = [];
    for (let at = ms(heldRun.scheduledAt) + every; at < releasedAt - 1000; at += every) missed.push(iso(at));
    expect(missed.length).toBeGreaterThanOrEqual(1);
    const runsAfterHeld = seen.results.filter((r) => r.run > heldRun.run);
    expect(runsAfterHeld.slice(0, missed.length).map((r) => [r.scheduledAt, r.outcome]), records).toEqual(missed.map((at) => [at, 'succeeded']));
    expectEachFireOnce(expect, seen.results);
  });

  test('a one-time task missed with none ends Executed without running, with one skipped record', async ({ expect }) => {
    const done = await restarted.waitForStatus('cu-delay-none', 'Executed');
    expect(done.results).toHaveLength(1);
    expect(done.results[0]).toMatchObject({ run: 1, outcome: 'skipped', scheduledAt: iso(delayDue), startedAt: null });
    expect(done.results[0]!.error).toMatch(new RegExp(`^1 fire ${why}; catch-up none: not run$`));
    expect(existsSync(marker)).toBe(false);
  });
});

describe.concurrent('jitter', () => {
  const every = 10_000;
  const jitter = 5_000;
  const start = '2030-01-01T00:00:00.000Z';
  const flags = ['--every', '10s', '--jitter', '5s', '--start', start, '--script', 'true'];

  /** Checks five fires of the 10s/5s schedule: each within [nominal, nominal + 5s), in order. */
  function expectJittered(expect: ExpectStatic, fires: string[]): void {
    expect(fires).toHaveLength(5);
    fires.forEach((fire, k) => {
      const offset = ms(fire) - (ms(start) + k * every);
      expect(offset >= 0 && offset < jitter, `fire ${k}: ${fire} is ${offset}ms after its nominal time`).toBe(true);
    });
    for (let k = 1; k < fires.length; k++) {
      const gap = ms(fires[k]) - ms(fires[k - 1]);
      expect(gap > every - jitter && gap < every + jitter, `gap ${gap}ms between fires ${k - 1} and ${k}`).toBe(true);
    }
    // Moved at all (five fires all exactly on the grid would mean no jitter).
    expect(fires.some((fire, k) => ms(fire) !== ms(start) + k * every), fires.join(' ')).toBe(true);
  }

  test('the fire times: each within its nominal time and 5s after, the same in a dry run, next, after a restart, and for the same id resubmitted', async ({ expect }) => {
    const own = await e2e.startDaemon();
    const dryRun = (id: string) => own.cli(['submit', id, ...flags, '--dry-run', '--json'], cliEnv);
    const preview = parseJson<PolicyTask & { nextRuns: string[] }>(ok(await dryRun('spread'), 'dry run'));
    expect(preview).toMatchObject({ jitter: '5s', start, nextRunAt: preview.nextRuns[0] });
    expectJittered(expect, preview.nextRuns);
    // The human form prints the same five.
    const human = ok(await own.cli(['submit', 'spread', ...flags, '--dry-run'], cliEnv), 'dry run');
    expect(human.stdout.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.slice(2, 21))).toEqual(preview.nextRuns.map((at) => at.slice(0, 19).replace('T', ' ')));
    // Derived from the id: another id spreads differently.
    const other = parseJson<{ nextRuns: string[] }>(ok(await dryRun('spread-other'), 'dry run'));
    expectJittered(expect, other.nextRuns);
    expect(other.nextRuns).not.toEqual(preview.nextRuns);

    const next = async (d: DaemonProcess): Promise<string[]> =>
      parseJson<{ nextRuns: string[] }>(ok(await d.cli(['next', 'spread', '--json'], cliEnv), 'next')).nextRuns;
    const stored = await submit(own, 'spread', flags);
    expect(stored.nextRunAt).toBe(preview.nextRuns[0]);
    expect(await next(own)).toEqual(preview.nextRuns);

    await own.stop();
    const again = await e2e.restart(own);
    expect(await next(again)).toEqual(preview.nextRuns);
    ok(await again.cli(['delete', 'spread'], cliEnv), 'delete');
    await submit(again, 'spread', flags);
    expect(await next(again)).toEqual(preview.nextRuns);
    // Two daemon starts and eight CLI runs: on a busy 2-core machine that is more than the default 30s.
  }, 60_000);

  test('a jitter not shorter than the time between two fires is refused (exit 2), storing nothing', async ({ expect }) => {
    const refused = await daemon.cli(['submit', 'too-jittery', '--every', '10s', '--jitter', '10s', '--script', 'true'], cliEnv);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toMatch(/^scheduler: jitter: 10s is not shorter than the time between two fires \(10s\)\n$/);
    expect(await daemon.task('too-jittery')).toBeUndefined();
  });

  test('a jittered task runs at the moved times next predicted: its runs are scheduled there', async ({ expect }) => {
    const submitted = await submit(daemon, 'jittery', ['--every', '1s', '--jitter', '600ms', '--overlap', 'allow', '--script', 'echo moved']); // (jittered fires can come 400ms apart: none is skipped for a run still going)
    const upcoming = parseJson<{ nextRuns: string[] }>(ok(await daemon.cli(['next', 'jittery', '-n', '3', '--json'], cliEnv), 'next')).nextRuns;
    // Fires may come while `next` starts (a CLI takes a second on a loaded machine): the runs
    // that count are those from the first time it predicted on, and they are exactly its times.
    const predictedFrom = ms(upcoming[0]!);
    const fromPrediction = (t: PolicyTask) => t.results.filter((run) => ms(run.scheduledAt) >= predictedFrom).sort((a, b) => ms(a.scheduledAt) - ms(b.scheduledAt));
    const seen = await daemon.waitForTask<PolicyTask>('jittery', 'two finished runs from the predicted times on', (t) => fromPrediction(t).filter(finished).length >= 2);
    ok(await daemon.cli(['stop', 'jittery']), 'stop');
    const [run1, run2] = fromPrediction(seen) as [PolicyRun, PolicyRun];
    expect([run1.scheduledAt, run2.scheduledAt]).toEqual(upcoming.slice(0, 2));
    for (const run of [run1, run2]) {
      expect(run).toMatchObject({ outcome: 'succeeded', stdout: 'moved\n' });
      const offset = (ms(run.scheduledAt) - ms(submitted.start)) % 1000;
      expect(offset >= 0 && offset < 600, `${run.scheduledAt}: ${offset}ms after its nominal time`).toBe(true);
      expect(ms(run.startedAt)).toBeGreaterThanOrEqual(ms(run.scheduledAt));
    }
  });
});
