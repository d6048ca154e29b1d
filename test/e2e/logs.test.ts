/**
 * scheduler logs ID [--run N] [-f|--follow] [--stderr]: one stream of one run's output,
 * printed raw on stdout. Without --run: the run executing, else the last that ran. With
 * --follow: a live run as it writes, until it ends (or the first run of a task that has not
 * run yet), exiting 0 if that run succeeded and 8 if not. Where bytes were dropped (a run
 * keeps the head and tail of each stream) it says so on a line of its own.
 */
import { beforeAll, describe, test } from 'vitest';
import { ok, startCli, type BackgroundCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { DaemonProcess } from '../support/daemon.js';
import type { RecordingProxy } from '../support/recording-proxy.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();
let daemon: DaemonProcess;
/** A daemon keeping 1KiB of each stream per run: 512 bytes of head, 512 of tail. */
let capped: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  [daemon, capped] = await Promise.all([e2e.startDaemon(), e2e.startDaemon({ args: ['--output-cap', '1KiB'] })]);
  scratch = e2e.tempDir();
});

async function submit(on: DaemonProcess, id: string, flags: string[]): Promise<void> {
  ok(await on.cli(['submit', id, ...flags]), `submit ${id}`);
}

/** Waits until `cli` has printed exactly `text` on stdout (and is still running). */
function waitForStdout(cli: BackgroundCli, text: string): Promise<true> {
  return waitFor(`logs to print ${JSON.stringify(text)}`, () => {
    if (cli.stdout() === text) return true;
    if (cli.child.exitCode !== null) throw new Error(`logs exited early (${cli.child.exitCode}):\n${cli.stdout()}\n${cli.stderr()}`);
    return undefined;
  }, { describe: () => ({ stdout: cli.stdout(), stderr: cli.stderr() }) });
}

/** Waits until a CLI behind `proxy` has the event stream of task `id` open. */
function waitForEventStream(proxy: RecordingProxy, id: string, cli: BackgroundCli): Promise<true> {
  return waitFor(`logs to open the event stream of ${id}`, () => {
    if (cli.child.exitCode !== null) throw new Error(`logs exited early (${cli.child.exitCode}):\n${cli.stdout()}\n${cli.stderr()}`);
    return proxy.answered(`/api/tasks/${id}/events`).some((r) => r.status === 200) || undefined;
  }, { describe: () => proxy.requests });
}

describe('scheduler logs of a run that has finished', () => {
  test('prints stdout of the last run, or its stderr with --stderr, or run N with --run N: raw, as written', async ({ expect }) => {
    // Two runs started by hand, one after the other: a tick of a short schedule could come
    // while a run executes on a busy machine, and be recorded as a skipped run between.
    await submit(daemon, 'two-runs', ['-type=cron', '-time=1h', '-script=echo "out of run $SCHEDULER_RUN"; printf "err of run $SCHEDULER_RUN\\nno newline" >&2']);
    for (const run of [1, 2]) {
      ok(await daemon.cli(['run', 'two-runs']), `run ${run}`);
      await daemon.waitForTask('two-runs', `run ${run} to succeed`, (t) => t.results.some((r) => r.run === run && r.outcome === 'succeeded'));
    }
    ok(await daemon.cli(['stop', 'two-runs']), 'stop');
    const task = await daemon.waitForStatus('two-runs', 'Stopped');
    const last = task.results.filter((r) => r.outcome !== 'skipped').at(-1)!;
    expect(last.outcome).toBe('succeeded');

    expect(await daemon.cli(['logs', 'two-runs'])).toMatchObject({ code: 0, stdout: `out of run ${last.run}\n`, stderr: '' });
    // stderr is printed on stdout, as it was written (no newline added at the end).
    expect(await daemon.cli(['logs', 'two-runs', '--stderr'])).toMatchObject({ code: 0, stdout: `err of run ${last.run}\nno newline`, stderr: '' });
    expect(await daemon.cli(['logs', 'two-runs', '--run', '1'])).toMatchObject({ code: 0, stdout: 'out of run 1\n', stderr: '' });
    expect(await daemon.cli(['logs', 'two-runs', '--run=2', '--stderr'])).toMatchObject({ code: 0, stdout: 'err of run 2\nno newline', stderr: '' });
    // Each matches what the run recorded.
    expect(task.results.find((r) => r.run === 2)).toMatchObject({ stdout: 'out of run 2\n', stderr: 'err of run 2\nno newline' });
  });

  test('output holding NUL bytes is kept and printed as written, on either store', async ({ expect }) => {
    // NUL, and U+E000 (a private-use character, written as its UTF-8 bytes) beside it.
    await submit(daemon, 'nul-bytes', ['-type=delay', '-time=0s', "-script=printf 'a\\0b\\356\\200\\200\\0\\n'; printf 'c\\0\\0' >&2"]);
    const task = await daemon.waitForStatus('nul-bytes', 'Executed');
    expect(task.results[0]).toMatchObject({ outcome: 'succeeded', stdout: 'a\0b\u{e000}\0\n', stderr: 'c\0\0' });
    expect(await daemon.cli(['logs', 'nul-bytes'])).toMatchObject({ code: 0, stdout: 'a\0b\u{e000}\0\n', stderr: '' });
    expect(await daemon.cli(['logs', 'nul-bytes', '--stderr'])).toMatchObject({ code: 0, stdout: 'c\0\0', stderr: '' });
  });

  test('a run that does not exist: exit 4; a bad run number: exit 2; an unknown task: exit 4', async ({ expect }) => {
    await submit(daemon, 'ran-once', ['-type=delay', '-time=100ms', '-script=echo once']);
    await daemon.waitForStatus('ran-once', 'Executed');
    const missing = await daemon.cli(['logs', 'ran-once', '--run', '7']);
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^scheduler: .*run 7/);
    for (const bad of ['0', '-1', 'two', '1.5']) {
      const result = await daemon.cli(['logs', 'ran-once', `--run=${bad}`]);
      expect(result.code, `--run=${bad}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe('');
    }
    const unknown = await daemon.cli(['logs', 'nobody']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^scheduler: no task with id "nobody"/);
  });

  test('a task with no run yet: exit 4, and it says to add --follow', async ({ expect }) => {
    await submit(daemon, 'not-yet', ['-type=delay', '-time=1h', '-script=echo later']);
    const result = await daemon.cli(['logs', 'not-yet']);
    expect(result).toMatchObject({ code: 4, stdout: '' });
    expect(result.stderr).toMatch(/^scheduler: task "not-yet" has not run yet; add --follow/);
  });
});

describe.concurrent('scheduler logs --follow', () => {
  test('a live run: prints each chunk as it is written, before the run ends; exit 0 when it succeeds', async ({ expect }) => {
    const release = gate(scratch, 'follow-ok');
    await submit(daemon, 'follow-ok', ['-type=delay', '-time=100ms', `-script=echo one; echo e-one >&2; ${release.wait}; echo two; echo e-two >&2`]);
    await daemon.waitForTask('follow-ok', 'its run to have written its first line', (t) => t.status === 'Executing');
    const logs = daemon.startCli(['logs', 'follow-ok', '-f']);
    await waitForStdout(logs, 'one\n');
    expect((await daemon.task('follow-ok'))!.results).toMatchObject([{ run: 1, outcome: 'running' }]);
    release.open();
    const result = await logs.done();
    expect(result).toMatchObject({ code: 0, stdout: 'one\ntwo\n', stderr: '' });
  });

  test('--stderr of a live run that fails: its stderr as it is written, then exit 8 (run_not_succeeded)', async ({ expect }) => {
    const release = gate(scratch, 'follow-fail');
    await submit(daemon, 'follow-fail', ['-type=delay', '-time=100ms', `-script=echo one; echo e-one >&2; ${release.wait}; echo two; echo e-two >&2; exit 5`]);
    await daemon.waitForStatus('follow-fail', 'Executing');
    const logs = daemon.startCli(['logs', 'follow-fail', '--follow', '--stderr']);
    await waitForStdout(logs, 'e-one\n');
    expect((await daemon.task('follow-fail'))!.results).toMatchObject([{ run: 1, outcome: 'running' }]);
    release.open();
    const result = await logs.done();
    expect(result.code).toBe(8);
    expect(result.stdout).toBe('e-one\ne-two\n');
    expect(result.stderr).toMatch(/^scheduler: run 1 of task follow-fail did not succeed \(failed\)\n$/);
  });

  test('a task that has not run yet: waits for its first run, follows it, exits 0', async ({ expect }) => {
    const proxy = await e2e.proxy(daemon);
    const release = gate(scratch, 'follow-first');
    // Due in an hour, and run on demand once logs is connected: however slow the machine,
    // logs starts before the run does.
    await submit(daemon, 'follow-first', ['-type=delay', '-time=1h', `-script=echo first; ${release.wait}; echo second`]);
    const logs = startCliVia(proxy, ['logs', 'follow-first', '-f']);
    await waitForEventStream(proxy, 'follow-first', logs);
    expect((await daemon.task('follow-first'))!.results).toEqual([]); // it is waiting for a run that has not started
    ok(await daemon.cli(['run', 'follow-first']), 'run');
    await waitForStdout(logs, 'first\n');
    release.open();
    const result = await logs.done();
    expect(result).toMatchObject({ code: 0, stdout: 'first\nsecond\n', stderr: '' });
  });

  test('a task stopped while logs waits for its first run: exit 4, saying it ended without running', async ({ expect }) => {
    const proxy = await e2e.proxy(daemon);
    await submit(daemon, 'follow-never', ['-type=delay', '-time=1h', '-script=echo never']);
    const logs = startCliVia(proxy, ['logs', 'follow-never', '--follow']);
    await waitForEventStream(proxy, 'follow-never', logs);
    ok(await daemon.cli(['stop', 'follow-never']), 'stop');
    const result = await logs.done();
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scheduler: task "follow-never" ended \(Stopped\) without running/);
  });

  test('a run that has already finished: prints it whole and exits per its outcome', async ({ expect }) => {
    await submit(daemon, 'follow-done', ['-type=delay', '-time=100ms', '-script=echo done; exit 2']);
    await daemon.waitForStatus('follow-done', 'Executed');
    const result = await daemon.cli(['logs', 'follow-done', '-f']);
    expect(result.code).toBe(8);
    expect(result.stdout).toBe('done\n');
    expect(result.stderr).toMatch(/did not succeed \(failed\)/);
  });
});

/** Starts `scheduler ARGS...` talking to the daemon through `proxy`. */
function startCliVia(proxy: RecordingProxy, args: string[]): BackgroundCli {
  return startCli(['--server', proxy.url, ...args]);
}

describe('head and tail: a run that printed more than --output-cap', () => {
  /** 400 numbered lines: 3,492 bytes, of which 1KiB is kept. */
  const lines = Array.from({ length: 400 }, (_, i) => `line ${i + 1}\n`).join('');
  const head = lines.slice(0, 512);
  const tail = lines.slice(-512);
  const dropped = lines.length - 1024;

  test('logs prints the head, a note of the bytes dropped on a line of its own, then the tail', async ({ expect }) => {
    await submit(capped, 'chatty', ['-type=delay', '-time=100ms', '-script=for i in $(seq 1 400); do echo "line $i"; echo "line $i" >&2; done']);
    const task = await capped.waitForStatus('chatty', 'Executed');
    expect(task.results[0]).toMatchObject({
      outcome: 'succeeded',
      stdout: head + tail,
      stdoutBytes: lines.length,
      stdoutTruncated: true,
      stdoutDroppedBytes: dropped,
      stdoutDroppedAt: 512,
      stderrDroppedBytes: dropped,
      outputCap: 1024,
    });
    // The head ends mid-line: the note begins on a new line.
    expect(head.endsWith('\n')).toBe(false);
    const expected = `${head}\n[${dropped} bytes of stdout dropped here]\n${tail}`;
    expect(await capped.cli(['logs', 'chatty'])).toMatchObject({ code: 0, stdout: expected, stderr: '' });
    expect(await capped.cli(['logs', 'chatty', '--stderr'])).toMatchObject({
      code: 0,
      stdout: `${head}\n[${dropped} bytes of stderr dropped here]\n${tail}`,
      stderr: '',
    });
    expect(await capped.cli(['logs', 'chatty', '--follow'])).toMatchObject({ code: 0, stdout: expected });

    // The output route: an offset inside the dropped middle moves to the first kept byte after it.
    const window = (await capped.api('GET', `/api/tasks/chatty/runs/1/output?stream=stdout&offset=600`)) as Record<string, unknown>;
    expect(window).toMatchObject({
      offset: 512 + dropped,
      skippedBytes: 512 + dropped - 600,
      nextOffset: lines.length,
      totalBytes: lines.length,
      droppedBytes: dropped,
      droppedAt: 512,
      complete: true,
      text: tail,
    });
  });

  test('logs --follow of a live run prints all of it as it passes, though only head and tail are kept', async ({ expect }) => {
    const release = gate(scratch, 'capped-live');
    await submit(capped, 'capped-live', ['-type=delay', '-time=100ms', `-script=echo start; ${release.wait}; for i in $(seq 1 400); do echo "line $i"; done`]);
    await capped.waitForStatus('capped-live', 'Executing');
    const logs = capped.startCli(['logs', 'capped-live', '-f']);
    await waitForStdout(logs, 'start\n');
    release.open();
    const result = await logs.done();
    expect(result).toMatchObject({ code: 0, stdout: `start\n${lines}`, stderr: '' });
    const task = await capped.waitForStatus('capped-live', 'Executed');
    expect(task.results[0]).toMatchObject({ stdoutBytes: 6 + lines.length, stdoutDroppedBytes: 6 + lines.length - 1024 });
    // Afterwards, only the head and tail are there to print.
    const after = await capped.cli(['logs', 'capped-live']);
    expect(after.stdout).toMatch(/^start\nline 1\n[^]*\n\[\d+ bytes of stdout dropped here\]\n[^]*line 400\n$/);
  });
});
