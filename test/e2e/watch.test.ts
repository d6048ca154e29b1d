/**
 * `scheduler get ID -watch=true`: prints the task, then follows its live event stream: one
 * line per event (status changes, runs starting, ending, skipped), each with a local
 * timestamp, and the script's output as it is written (its stdout on stdout, its stderr on
 * stderr). It ends on its own once the task is final, exiting 0 if the task's last run
 * succeeded and 8 otherwise. Runs are held at gates so that the test sees each state while
 * it lasts, however slow the machine.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { parseJson, type BackgroundCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate, type Gate } from '../support/gate.js';
import { expectInOrder } from '../support/expect-in-order.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

/** A local time as the CLI prints it, and the prefix of every event line. */
const time = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;
const at = `${time} {2}`;

async function submit(id: string, flags: string[]): Promise<void> {
  const result = await daemon.cli(['submit', id, ...flags]);
  if (result.code !== 0) throw new Error(`submit ${id} exited ${result.code}: ${result.stderr}`);
}

/** Waits until the watcher has printed something matching `pattern` (on stderr with `onStderr`). */
function waitForOutput(watcher: BackgroundCli, pattern: RegExp, what: string, onStderr = false): Promise<true> {
  return waitFor(`the watcher to print ${what}`, () => {
    const text = onStderr ? watcher.stderr() : watcher.stdout();
    if (pattern.test(text)) return true;
    if (watcher.child.exitCode !== null) throw new Error(`the watcher exited early:\n${watcher.stdout()}\n${watcher.stderr()}`);
    return undefined;
  }, { describe: () => ({ stdout: watcher.stdout(), stderr: watcher.stderr() }) });
}

/** What the watcher printed after the task and its retained results (the event lines and the output). */
function afterTask(stdout: string): string {
  return stdout.slice(expectInOrder(stdout, [/^results: +.*\n(?: {2}.*\n)*/m]));
}

/** A task followed from before its first run, with the watchers that follow it. */
interface Followed {
  id: string;
  /** Its `-time`, in seconds. */
  delay: number;
  /** The gate its script waits at after its first line. */
  release: Gate;
  watchers: BackgroundCli[];
}

/**
 * Submits task `name` (`type`, first run after a delay, `script(gateWait)` printing `firstLine`
 * then waiting at a gate) and starts one `get ID` watcher per entry of `watcherFlags`, then
 * waits until each has seen the run begin: the first line printed, or an output event in JSON.
 * These tests are about what a watcher shows of a task it follows from before the run; the
 * delay is meant to outlast the watchers' start. On a machine busy enough that a watcher's
 * first read or its stream came after the run began (it then shows the run from the task as
 * read, without "run 1 started"), that attempt is set aside (its run released, its watchers
 * ended) and made again under a new id with twice the delay: the condition is checked, not
 * hoped for.
 */
async function followFromBeforeTheRun(name: string, type: 'delay' | 'cron', script: (gateWait: string) => string, firstLine: string, watcherFlags: string[][]): Promise<Followed> {
  for (let attempt = 1, delay = 4; ; attempt++, delay *= 2) {
    const id = attempt === 1 ? name : `${name}-${attempt}`;
    const release = gate(scratch, id);
    await submit(id, [`-type=${type}`, `-time=${delay}s`, `-script=${script(release.wait)}`]);
    const watchers = watcherFlags.map((flags) => daemon.startCli(['get', id, ...flags]));
    const inTime = await Promise.all(watchers.map((watcher, index) => sawTheRunBegin(watcher, watcherFlags[index]!.includes('--json'), firstLine)));
    if (inTime.every(Boolean)) return { id, delay, release, watchers };
    if (attempt === 4) throw new Error(`the watchers of ${id} came after its run began four times, the last with a delay of ${delay}s`);
    release.open();
    for (const watcher of watchers) watcher.child.kill();
    await daemon.cli(['delete', id]);
  }
}

/** Waits until `watcher` shows the first run begin; true when it followed the task from before (it printed the run's start). */
async function sawTheRunBegin(watcher: BackgroundCli, json: boolean, firstLine: string): Promise<boolean> {
  if (json) {
    await waitForOutput(watcher, /"event":"output"/, 'an output event');
    const stdout = watcher.stdout();
    const started = stdout.indexOf('"event":"run-started"');
    return started !== -1 && started < stdout.indexOf('"event":"output"');
  }
  await waitForOutput(watcher, new RegExp(`^${firstLine}$`, 'm'), "the run's first line");
  return /^status: +ToBeExecuted$/m.test(watcher.stdout()) && new RegExp(`run 1 started\n${firstLine}\n`).test(watcher.stdout());
}

// The ones that take real time run side by side; the quick ones after them, one by one, so
// that a burst of CLI processes does not slow the watchers' start on a small machine.
describe.concurrent('scheduler get ID -watch=true, following a task', () => {
  test("a delay task: the task, then each event and the run's output as it is written; exit 0 when the run succeeded", async ({ expect }) => {
    const { id, delay, release, watchers } = await followFromBeforeTheRun('watch-delay', 'delay', (wait) => `echo hello; echo oops >&2; ${wait}; printf 'no newline'`, 'hello', [['-watch=true']]);
    const watcher = watchers[0]!;
    // The run is held at the gate: its output so far is printed while it executes.
    await waitForOutput(watcher, /run 1 started\nhello\n$/, 'that run 1 started, then its first line');
    await waitForOutput(watcher, /^oops\n$/, "the script's stderr, on stderr", true);
    expect(afterTask(watcher.stdout())).not.toMatch(/oops|succeeded|-> Executed/);
    expect(watcher.child.exitCode).toBeNull();
    expect((await daemon.task(id))!.results).toMatchObject([{ run: 1, outcome: 'running' }]);
    release.open();

    const result = await watcher.done();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('oops\n'); // the script's stderr, raw (not a terminal: no colour)
    expectInOrder(result.stdout, [
      new RegExp(`^id: +${id}$`, 'm'),
      /^type: +delay$/m,
      new RegExp(`^time: +${delay}s$`, 'm'),
      /^script: +echo hello; echo oops >&2; .+; printf 'no newline'$/m,
      /^status: +ToBeExecuted$/m,
      new RegExp(`^last change: +${time}$`, 'm'),
      /^results: +none yet$/m,
    ]);
    // Then exactly this: each event once, in order; the output raw, where it came; the note
    // after "no newline" on a line of its own.
    expect(afterTask(result.stdout)).toMatch(
      new RegExp(
        `^${at}status ToBeExecuted -> Executing\n` +
          `${at}run 1 started\n` +
          'hello\n' +
          'no newline\n' +
          `${at}run 1 succeeded, exit 0\n` +
          `${at}status Executing -> Executed\n` +
          `task ${id} is Executed; nothing more will happen\n$`,
      ),
    );
  });

  test('a run that fails: the note says how, exit 8 (run_not_succeeded); --json: the task, then one event per line, exit 8 too', async ({ expect }) => {
    const { id, release, watchers } = await followFromBeforeTheRun('watch-fail', 'delay', (wait) => `echo partial; ${wait}; echo bad >&2; exit 3`, 'partial', [['-watch=true'], ['--watch', '--json']]);
    const [human, json] = watchers as [BackgroundCli, BackgroundCli];
    await waitForOutput(human, /run 1 started\npartial\n$/, 'the first line of the run');
    release.open();

    const result = await human.done();
    expect(result.code).toBe(8);
    expect(result.stderr).toBe(`bad\nscheduler: the last run of task ${id} did not succeed (failed)\n`);
    expect(afterTask(result.stdout)).toMatch(
      new RegExp(
        `^${at}status ToBeExecuted -> Executing\n${at}run 1 started\npartial\n` +
          `${at}run 1 failed, exit 3\n${at}status Executing -> Executed\n` +
          `task ${id} is Executed; nothing more will happen\n$`,
      ),
    );

    const jsonResult = await json.done();
    expect(jsonResult.code).toBe(8);
    expect(jsonResult.stderr).toBe(`scheduler: the last run of task ${id} did not succeed (failed)\n`);
    const [first, ...rest] = jsonResult.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(first).toMatchObject({ id, type: 'delay', status: 'ToBeExecuted', results: [] });
    for (const event of rest) expect(Object.keys(event).sort()).toEqual(['data', 'event', 'id']);
    expect(rest[0]).toMatchObject({ event: 'snapshot', data: { task: { id } } });
    expect(rest.map((event) => event.event)).toEqual(['snapshot', 'status', 'run-started', 'output', 'output', 'run-finished', 'status']);
    expect(rest.every((event) => typeof event.id === 'string')).toBe(true);
    const outputs = rest.filter((event) => event.event === 'output').map((event) => event.data);
    expect(outputs).toMatchObject([
      { run: 1, stream: 'stdout', offset: 0, bytes: 8, text: 'partial\n' },
      { run: 1, stream: 'stderr', offset: 0, bytes: 4, text: 'bad\n' },
    ]);
    expect(rest.at(-2)).toMatchObject({ event: 'run-finished', data: { run: 1, outcome: 'failed', exitCode: 3, signal: null, stdoutBytes: 8, stderrBytes: 4 } });
    expect(rest.at(-1)).toMatchObject({ event: 'status', data: { previousStatus: 'Executing', status: 'Executed', stopRequested: false } });
  });

  test('a cron task: each run as it happens, until it is stopped; exit 0 since its last run succeeded', async ({ expect }) => {
    await submit('watch-cron', ['--type', 'cron', '--time', '700ms', '--script', 'echo tick $SCHEDULER_RUN']);
    const watcher = daemon.startCli(['get', 'watch-cron', '--watch']);
    /** The numbers of the runs printed as `run N <what>`, in the order printed. */
    const printedRuns = (text: string, what: string) => [...text.matchAll(new RegExp(`^${at}run (\\d+) ${what}$`, 'gm'))].map((m) => Number(m[1]));
    /** Runs whose start and end were both printed. */
    const wholeRuns = (text: string) => {
      const started = printedRuns(text, 'started');
      return printedRuns(text, 'succeeded, exit 0').filter((run) => started.includes(run)).length;
    };
    // Two runs that ended after the watcher printed the task (it may start late on a busy machine).
    await waitFor('the watcher to print two whole runs', () => {
      if (watcher.child.exitCode !== null) throw new Error(`the watcher exited early:\n${watcher.stdout()}`);
      return wholeRuns(afterTask(watcher.stdout())) >= 2 || undefined;
    }, { describe: () => watcher.stdout() });
    expect(watcher.child.exitCode).toBeNull(); // a cron task goes on: the watcher too

    const stop = await daemon.cli(['stop', 'watch-cron']);
    expect(stop.code, stop.stderr).toBe(0);
    const result = await watcher.done();
    const task = await daemon.waitForStatus('watch-cron', 'Stopped');
    // The last run that ran (a tick during it, on a busy machine, is recorded skipped after it).
    const lastRun = task.results.filter(({ outcome }) => outcome !== 'skipped').at(-1)!;
    expect(lastRun.outcome).toBe('succeeded');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');

    const events = afterTask(result.stdout);
    const lines = events.split('\n');
    const lineOf = (pattern: string) => {
      const matching = lines.flatMap((line, index) => (new RegExp(`^${pattern}$`).test(line) ? [index] : []));
      expect(matching, pattern).toHaveLength(1);
      return matching[0]!;
    };
    const started = printedRuns(events, 'started');
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(started, 'each run started once, in order').toEqual([...new Set(started)].sort((a, b) => a - b));
    // Each run printed once: its start, then its own output, then its end. A tick that came
    // while it executed (a busy machine) may be printed as skipped in between.
    for (const run of started) {
      const start = lineOf(`${at}run ${run} started`);
      const tick = lineOf(`tick ${run}`);
      const end = lineOf(`${at}run ${run} succeeded, exit 0`);
      expect(start).toBeLessThan(tick);
      expect(tick).toBeLessThan(end);
    }
    // Between the first run printed and the last, every other run was skipped and printed so.
    for (const { run, outcome } of task.results.filter(({ run }) => run > started[0]! && run < started.at(-1)! && !started.includes(run))) {
      expect(outcome, `run ${run}`).toBe('skipped');
      lineOf(`${at}run ${run} skipped: .*`);
    }
    expect(started.at(-1)).toBe(lastRun.run);
    // After each run: the task waits for the next tick, which it names.
    expect(events).toMatch(new RegExp(`^${at}status Executing -> WaitForNextExecution; next run at ${time}$`, 'm'));
    // A run that began and ended between the watcher's first read and its stream's start (a
    // busy machine) is reported from the final read, after the stop: its end, and no more.
    expect(events).toMatch(new RegExp(`(^|\n)${at}status (WaitForNextExecution|Executing) -> Stopped\n(?:${at}run \\d+ succeeded, exit 0\n)*task watch-cron is Stopped; nothing more will happen\n$`));
  });

  test('a cron task stopped while its run executes: the stop request is shown, the run goes on; exit 8 since that run failed', async ({ expect }) => {
    const { id, release, watchers } = await followFromBeforeTheRun('watch-cron-stop', 'cron', (wait) => `echo working; ${wait}; echo broken >&2; exit 4`, 'working', [['-watch=true']]);
    const watcher = watchers[0]!;
    await waitForOutput(watcher, /run 1 started\nworking\n$/, 'run 1 and its first line');

    const stop = await daemon.cli(['stop', id]);
    expect(stop.code, stop.stderr).toBe(0);
    await waitForOutput(watcher, new RegExp(`^${at}status Executing; stop requested: the current run goes on, no later run$`, 'm'), 'the stop request');
    expect(watcher.child.exitCode).toBeNull(); // the run goes on: the watcher too
    release.open();

    const result = await watcher.done();
    expect(result.code).toBe(8);
    expect(result.stderr).toBe(`broken\nscheduler: the last run of task ${id} did not succeed (failed)\n`);
    expectInOrder(afterTask(result.stdout), [
      new RegExp(`^${at}run 1 started\nworking\n`, 'm'),
      new RegExp(`^${at}status Executing; stop requested`, 'm'),
      new RegExp(`^${at}run 1 failed, exit 4\n${at}status Executing -> Stopped\ntask ${id} is Stopped; nothing more will happen\n$`, 'm'),
    ]);
    expect(result.stdout).not.toMatch(/run 2 (started|succeeded|failed)/);
  });
});

describe('scheduler get ID -watch=true, other cases', () => {
  test('a task that is already Executed: prints it and exits at once, 0 as its run succeeded', async () => {
    await submit('watch-done', ['-type=delay', '-time=100ms', '-script=echo done']);
    await daemon.waitForStatus('watch-done', 'Executed');
    const result = await daemon.cli(['get', 'watch-done', '-watch=true']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^status: +Executed$/m);
    expect(result.stdout).toMatch(/^ {2}run 1: succeeded/m);
    expect(afterTask(result.stdout)).toBe('task watch-done is Executed; nothing more will happen\n');
  });

  test('a task stopped before it ran: prints it and exits 8 at once, saying it ended without running', async () => {
    await submit('watch-final', ['-type=delay', '-time=1h', '-script=true']);
    expect((await daemon.cli(['stop', 'watch-final'])).code).toBe(0);
    const result = await daemon.cli(['get', 'watch-final', '-watch=true']);
    expect(result.code).toBe(8);
    expect(result.stdout).toMatch(/^status: +Stopped$/m);
    expect(afterTask(result.stdout)).toBe('task watch-final is Stopped; nothing more will happen\n');
    expect(result.stderr).toBe('scheduler: task watch-final ended without running\n');
  });

  test('a task stopped while watched, before it ran: the watcher shows the stop and exits 8', async () => {
    await submit('watch-stopped', ['-type=delay', '-time=1h', '-script=true']);
    const watcher = daemon.startCli(['get', 'watch-stopped', '--watch']);
    await waitForOutput(watcher, /^results: +none yet$/m, 'the task');
    expect((await daemon.cli(['stop', 'watch-stopped'])).code).toBe(0);
    const result = await watcher.done();
    expect(result.code).toBe(8);
    expect(result.stderr).toMatch(/^scheduler: task watch-stopped ended without running$/m);
    expect(afterTask(result.stdout)).toMatch(new RegExp(`^${at}status ToBeExecuted -> Stopped\ntask watch-stopped is Stopped; nothing more will happen\n$`));
  });

  test('-watch=false prints the task once and exits, final or not', async () => {
    await submit('watch-false', ['-type=delay', '-time=1h', '-script=true']);
    const result = await daemon.cli(['get', 'watch-false', '-watch=false']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^status: +ToBeExecuted$/m);
    expect(result.stdout).not.toContain('nothing more will happen');
    const json = parseJson<TaskView>(await daemon.cli(['get', 'watch-false', '-watch=false', '--json']));
    expect(json.status).toBe('ToBeExecuted');
  });

  test('-watch=maybe is a usage error (exit 2)', async () => {
    const result = await daemon.cli(['get', 'anything', '-watch=maybe']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/"maybe" is not true or false/);
  });

  test('a task deleted while watched: the watcher fails with exit 4 and says so', async () => {
    await submit('watch-deleted', ['-type=delay', '-time=1h', '-script=true']);
    const watcher = daemon.startCli(['get', 'watch-deleted', '--watch']);
    await waitForOutput(watcher, /^results: +none yet$/m, 'the task');
    const deleted = await daemon.cli(['delete', 'watch-deleted']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const result = await watcher.done();
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^scheduler: task "watch-deleted" was deleted/);
  });

  test('watching an unknown task fails with exit 4', async () => {
    const result = await daemon.cli(['get', 'no-such-task', '-watch=true']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scheduler: no task with id "no-such-task"/);
  });
});
