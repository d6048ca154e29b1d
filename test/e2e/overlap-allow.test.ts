/**
 * The overlap rule `allow` end to end, with a real daemon, the real CLI and real processes:
 * a task every 300ms (`--overlap allow --max-parallel 3`) whose runs are held at a gate file
 * runs three processes at once, and records further fires as skipped; each run's live output
 * is served by its run number; `scheduler kill` ends every run (no process of any group
 * left); a stop lets the three finish, then the task is Stopped; a crash of the daemon
 * leaves each of them recorded interrupted, and their processes killed by the next daemon.
 *
 * Runs are held at gate files for as long as a test needs; "it did not happen" is shown by
 * the scheduler having passed the time, never by sleeping. The one wait on the clock is the
 * downtime of a killed daemon, when there is no daemon to ask.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { processGroupMembers, processGroupOf, waitForGroupGone } from '../support/processes.js';
import type { RunView, TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate, type Gate } from '../support/gate.js';

const e2e = useE2e();

type AllowRun = RunView & { attempt: number };
type AllowTask = Omit<TaskView, 'results'> & { results: AllowRun[]; overlap: string; maxParallel: number | null };

const limitReason = '3 runs were executing, the most it allows at once';

let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

/** The records of a task, one line each, for failure messages. */
function describeRecords(results: AllowRun[]): string {
  return results.map((r) => `${r.run} ${r.scheduledAt} ${r.outcome}${r.error ? ` (${r.error})` : ''}`).join('\n');
}

/** The pid file run `run` of `id` writes (its shell's pid: the group id of the run). */
function pidFile(dir: string, id: string, run: number): string {
  return join(dir, `${id}-${run}.pid`);
}

/** The runs of `id` that have written their pid file so far. */
function runsWithPidFiles(dir: string, id: string): number[] {
  const pattern = new RegExp(`^${id}-(\\d+)\\.pid$`);
  return readdirSync(dir)
    .map((name) => pattern.exec(name)?.[1])
    .filter((run): run is string => run !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  return pid > 0 ? pid : undefined;
}

/**
 * A script that writes its pid, says it is up, waits at the gate, then says it is done; each
 * run forks a background sleep too, so that its group holds more than the shell.
 */
function heldScript(dir: string, id: string, release: Gate): string {
  return `echo $$ > '${dir}/${id}-'$SCHEDULER_RUN'.pid'; sleep 30 & echo "run $SCHEDULER_RUN up"; ${release.wait}; kill $! 2>/dev/null; echo "run $SCHEDULER_RUN done"`;
}

/**
 * Submits `id` every 300ms with overlap allow, at most 3 at once, its runs held at `release`;
 * waits until runs 1, 2 and 3 are executing together (each one's process group alive at the
 * same moment) and a further fire has been recorded skipped. Returns the group of each run.
 */
async function threeAtOnce(on: DaemonProcess, dir: string, id: string, release: Gate): Promise<{ groups: Map<number, number>; held: AllowTask }> {
  const submitted = await on.submit<AllowTask>(id, ['--every', '300ms', '--overlap', 'allow', '--max-parallel', '3', '--script', heldScript(dir, id, release)]);
  expect(submitted).toMatchObject({ overlap: 'allow', maxParallel: 3, status: 'ToBeExecuted' });

  const held = await on.waitForTask<AllowTask>(id, 'runs 1, 2 and 3 executing and a later fire skipped', (t) =>
    [1, 2, 3].every((run) => t.results.find((r) => r.run === run)?.outcome === 'running') && t.results.some((r) => r.outcome === 'skipped'),
  );
  const groups = new Map<number, number>();
  for (const run of [1, 2, 3]) {
    const pid = await waitFor(`run ${run} of ${id} to write its pid`, () => readPid(pidFile(dir, id, run)));
    expect(processGroupOf(pid), `run ${run} leads its own process group`).toBe(pid);
    groups.set(run, pid);
  }
  // Three processes at once: every group is alive now (the runs are held at the gate).
  for (const [run, pgid] of groups) expect(processGroupMembers(pgid).length, `processes of run ${run}`).toBeGreaterThanOrEqual(1);
  expect(new Set(groups.values()).size).toBe(3);
  return { groups, held };
}

/** The live output of run `run` of `id`, through the API. */
async function outputOf(on: DaemonProcess, id: string, run: number): Promise<{ run: number; text: string; complete: boolean }> {
  return (await on.api('GET', `/api/tasks/${id}/runs/${run}/output`)) as { run: number; text: string; complete: boolean };
}

describe.concurrent('overlap allow with --max-parallel 3', () => {
  test('three runs execute at once, further fires are skipped; each run\'s live output is its own; kill ends every run and leaves no process of any of them', async ({ expect }) => {
    const release = gate(scratch, 'fan');
    const { groups, held } = await threeAtOnce(daemon, scratch, 'fan', release);

    // Every fire past the third was skipped, saying why, and started no process.
    const skipped = held.results.filter((r) => r.run > 3);
    expect(skipped.length, describeRecords(held.results)).toBeGreaterThanOrEqual(1);
    for (const skip of skipped) expect(skip, describeRecords(held.results)).toMatchObject({ outcome: 'skipped', startedAt: null, error: limitReason });
    // Each run serves a fire of its own, on the 300ms grid, in order.
    const fires = held.results.map((r) => Date.parse(r.scheduledAt));
    for (let k = 1; k < fires.length; k++) {
      const gap = fires[k]! - fires[k - 1]!;
      expect(gap > 0 && gap % 300 === 0, describeRecords(held.results)).toBe(true);
    }
    expect(held.status).toBe('Executing');

    // While they are held: still exactly three processes started, whatever fired since.
    const now = await daemon.existingTask<AllowTask>('fan');
    expect(now.results.filter((r) => r.outcome === 'running').map((r) => r.run), describeRecords(now.results)).toEqual([1, 2, 3]);
    expect(runsWithPidFiles(scratch, 'fan')).toEqual([1, 2, 3]);

    // The live output of each run, by its number (not the first run's for all).
    for (const run of [1, 2, 3]) {
      const live = await waitFor(`the live output of run ${run}`, async () => {
        const window = await outputOf(daemon, 'fan', run);
        return window.text === `run ${run} up\n` ? window : undefined;
      });
      expect(live).toMatchObject({ run, complete: false });
    }

    const killed = await daemon.cli(['kill', 'fan', '--json']);
    expect(killed.code, killed.stderr).toBe(0);
    const afterKill = parseJson<AllowTask>(killed);
    // The answer comes once every run is recorded: each of the three killed.
    for (const run of [1, 2, 3]) {
      expect(afterKill.results.find((r) => r.run === run), describeRecords(afterKill.results)).toMatchObject({ outcome: 'killed', signal: 'SIGTERM', stdout: `run ${run} up\n` });
    }
    for (const [run, pgid] of groups) await waitForGroupGone(pgid, `run ${run}`);

    // The schedule goes on (runs start again, held at the gate); a stop and the gate end it.
    const stop = await daemon.cli(['stop', 'fan']);
    expect(stop.code, stop.stderr).toBe(0);
    release.open();
    const stopped = await daemon.waitForStatus('fan', 'Stopped');
    const final = stopped as unknown as AllowTask;
    expect(final.results.filter((r) => r.run <= 3).map((r) => r.outcome)).toEqual(['killed', 'killed', 'killed']);
    for (const run of final.results.filter((r) => r.run > 3)) expect(['skipped', 'succeeded'], describeRecords(final.results)).toContain(run.outcome);
    // Nothing of any run of the task is left.
    for (const run of runsWithPidFiles(scratch, 'fan')) await waitForGroupGone(readPid(pidFile(scratch, 'fan', run))!, `run ${run}`);
  });

  test('logs --follow of a run beside the first follows it, from its output so far to its end', async ({ expect }) => {
    const release = gate(scratch, 'follow');
    await threeAtOnce(daemon, scratch, 'follow', release);
    const follow = daemon.startCli(['logs', 'follow', '--run', '2', '--follow']);
    await waitFor('run 2 output', () => follow.stdout().includes('run 2 up') || undefined, { describe: () => ({ stdout: follow.stdout(), stderr: follow.stderr() }) });
    expect(follow.child.exitCode).toBeNull();
    ok(await daemon.cli(['stop', 'follow']), 'stop');
    release.open();
    const done = await follow.done();
    expect(done).toMatchObject({ code: 0, stdout: 'run 2 up\nrun 2 done\n' });
    await daemon.waitForStatus('follow', 'Stopped');
  });

  test('stop while three runs execute: they go on and no fire is recorded; released, all three finish and the task ends Stopped', async ({ expect }) => {
    const release = gate(scratch, 'fan-stop');
    const { groups } = await threeAtOnce(daemon, scratch, 'fan-stop', release);

    const stop = await daemon.cli(['stop', 'fan-stop', '--json']);
    expect(stop.code, stop.stderr).toBe(0);
    const stopping = parseJson<AllowTask>(stop);
    expect(stopping).toMatchObject({ status: 'Executing', stopRequested: true, nextRunAt: null });
    expect(stopping.results.filter((r) => r.outcome === 'running').map((r) => r.run)).toEqual([1, 2, 3]);
    const recordsAtStop = stopping.results.length;

    // Three fire times pass: nothing is fired (not even recorded skipped), the runs go on.
    await daemon.waitUntilSchedulerPassed(Date.now() + 1_000);
    const still = await daemon.existingTask<AllowTask>('fan-stop');
    expect(still.results, describeRecords(still.results)).toHaveLength(recordsAtStop);
    expect(still).toMatchObject({ status: 'Executing', stopRequested: true });
    for (const [run, pgid] of groups) expect(processGroupMembers(pgid).length, `processes of run ${run}`).toBeGreaterThanOrEqual(1);

    release.open();
    const done = (await daemon.waitForStatus('fan-stop', 'Stopped')) as unknown as AllowTask;
    expect(done.stopRequested).toBe(false);
    expect(done.results, describeRecords(done.results)).toHaveLength(recordsAtStop);
    for (const run of [1, 2, 3]) {
      expect(done.results.find((r) => r.run === run)).toMatchObject({ outcome: 'succeeded', exitCode: 0, attempt: 1, stdout: `run ${run} up\nrun ${run} done\n` });
    }
    for (const skip of done.results.filter((r) => r.run > 3)) expect(skip).toMatchObject({ outcome: 'skipped', error: limitReason });
    for (const [run, pgid] of groups) await waitForGroupGone(pgid, `run ${run}`);
    expect(runsWithPidFiles(scratch, 'fan-stop')).toEqual([1, 2, 3]);
  });

  test('--max-parallel is checked: with another overlap rule, or out of 2..64, it is refused (exit 2) naming the field; allow alone means 4', async ({ expect }) => {
    const other = await daemon.cli(['submit', 'mp-queue', '--every', '1h', '--overlap', 'queue', '--max-parallel', '3', '--script', 'true']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/maxParallel: only applies with overlap "allow"/);
    const noRule = await daemon.cli(['submit', 'mp-skip', '--every', '1h', '--max-parallel', '3', '--script', 'true']);
    expect(noRule.code).toBe(2);
    expect(noRule.stderr).toMatch(/maxParallel/);
    for (const max of ['1', '65']) {
      const refused = await daemon.cli(['submit', `mp-${max}`, '--every', '1h', '--overlap', 'allow', '--max-parallel', max, '--script', 'true']);
      expect(refused.code, `--max-parallel ${max}`).toBe(2);
      expect(refused.stderr, `--max-parallel ${max}`).toMatch(/maxParallel/);
    }
    for (const id of ['mp-queue', 'mp-skip', 'mp-1', 'mp-65']) expect(await daemon.task(id), id).toBeUndefined();

    const byDefault = await daemon.submit<AllowTask>('mp-default', ['--every', '1h', '--overlap', 'allow', '--script', 'true']);
    expect(byDefault).toMatchObject({ overlap: 'allow', maxParallel: 4 });
    const skip = await daemon.submit<AllowTask>('mp-none', ['--every', '1h', '--script', 'true']);
    expect(skip).toMatchObject({ overlap: 'skip', maxParallel: null });
    for (const id of ['mp-default', 'mp-none']) ok(await daemon.cli(['delete', id]), `delete ${id}`);
  });
});

describe('overlap allow across a crash of the daemon', () => {
  test('kill -9 with three runs executing: the next daemon kills their processes and records each interrupted; the task goes on', async ({ expect }) => {
    const first = await e2e.startDaemon();
    const dir = e2e.tempDir();
    const release = gate(dir, 'crash');
    const { groups } = await threeAtOnce(first, dir, 'crash', release);
    await first.kill();
    // The runs outlive the daemon (each is a process group of its own)...
    for (const [run, pgid] of groups) expect(processGroupMembers(pgid).length, `processes of run ${run} after the crash`).toBeGreaterThanOrEqual(1);

    const second = await e2e.restart(first);
    // ...until the next daemon starts: it kills them before it records anything.
    for (const [run, pgid] of groups) await waitForGroupGone(pgid, `run ${run}`);
    const recovered = await second.existingTask<AllowTask>('crash');
    for (const run of [1, 2, 3]) {
      expect(recovered.results.find((r) => r.run === run), describeRecords(recovered.results)).toMatchObject({ outcome: 'interrupted', stdout: `run ${run} up\n` });
    }
    expect(recovered.results.find((r) => r.run === 1)!.error).toMatch(/daemon stopped/);

    // The task goes on: a later run starts, beside which others may run again.
    const later = await second.waitForTask<AllowTask>('crash', 'a run after the restart', (t) => t.results.some((r) => r.run > 3 && r.outcome === 'running'));
    expect(later.status).toBe('Executing');
    ok(await second.cli(['stop', 'crash']), 'stop');
    release.open();
    const stopped = (await second.waitForStatus('crash', 'Stopped')) as unknown as AllowTask;
    expect(stopped.results.filter((r) => r.run <= 3).map((r) => r.outcome)).toEqual(['interrupted', 'interrupted', 'interrupted']);
    for (const run of runsWithPidFiles(dir, 'crash')) await waitForGroupGone(readPid(pidFile(dir, 'crash', run))!, `run ${run}`);
  });
});
