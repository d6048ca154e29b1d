/**
 * Schedules beyond the fixed interval, end to end: a real daemon fires `--cron` expressions
 * (to the second), `--at` times and `--every` intervals that `--end`; `submit --dry-run` and
 * `scheduler next` say when a task will run; schedule errors exit 2 with their message.
 *
 * The daemon runs in America/New_York (TZ), so its zone is not the UTC test machines use; the
 * CLI runs in UTC (TZ), so the times it prints can be compared exactly.
 */
import { beforeAll, describe, test } from 'vitest';
import { ok, parseJson, type CliResult } from '../support/cli.js';
import { ms, type RunView, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
const daemonZone = 'America/New_York';
const cliEnv = { env: { TZ: 'UTC' } };
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon({ env: { TZ: daemonZone } });
});

const cli = (args: string[]): Promise<CliResult> => daemon.cli(args, cliEnv);

/** "2030-01-07 08:00:00": how the CLI (in UTC) prints an instant. */
const shown = (iso: string): string => iso.slice(0, 19).replace('T', ' ');

/** The lines a command printed. */
const lines = (result: CliResult): string[] => result.stdout.split('\n').filter((line) => line !== '');

describe.concurrent('schedules that fire', () => {
  test('a second-level cron expression runs again and again, each run on a whole second, a second after the one before', async ({ expect }) => {
    const submitted = ok(await cli(['submit', 'each-second', '--cron', '*/1 * * * * *', '--script', 'echo tick']), 'submit');
    expect(submitted.stdout).toMatch(/^submitted each-second: runs on "\*\/1 \* \* \* \* \*" \(America\/New_York\); first run at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((in [\d.]+m?s|now|[\d.]+m?s ago)\)\n$/);
    const task = parseJson<TaskView>(await cli(['get', 'each-second', '--json']));
    expect(task).toMatchObject({ type: 'cron', time: '*/1 * * * * *', timezone: daemonZone, start: null, end: null });

    const seen = await daemon.waitForTask('each-second', 'three runs over', (t) => t.results.filter((run) => run.finishedAt !== null).length >= 3, 20_000);
    ok(await cli(['stop', 'each-second']), 'stop');
    const runs = seen.results.filter((run) => run.finishedAt !== null);
    for (const run of runs) {
      expect(ms(run.scheduledAt) % 1000, run.scheduledAt).toBe(0);
      if (run.outcome !== 'skipped') expect(run).toMatchObject({ outcome: 'succeeded', stdout: 'tick\n' });
    }
    for (let k = 1; k < runs.length; k++) {
      const [before, after] = [runs[k - 1]!, runs[k]!];
      const gap = ms(after.scheduledAt) - ms(before.scheduledAt);
      // Fires the daemon came to late collapse into one: a longer gap is only allowed when the
      // run before it began a whole second or more after it was due.
      if (gap !== 1000) {
        expect(gap % 1000, JSON.stringify(runs)).toBe(0);
        expect(gap).toBeGreaterThan(1000);
        expect(ms(before.startedAt ?? before.finishedAt) - ms(before.scheduledAt), JSON.stringify(runs)).toBeGreaterThanOrEqual(1000);
      }
    }
  });

  test('--at a time runs once, then is Executed and will not run again', async ({ expect }) => {
    // A whole second 8 to 9 s ahead, which the submit comes before. What a task looks like
    // before its time is read from a second one, an hour ahead: on a loaded machine three
    // commands can take longer than 8 s, and the first would have run already.
    const at = new Date(Math.ceil((Date.now() + 8000) / 1000) * 1000).toISOString();
    const submitted = ok(await cli(['submit', 'once-at', '--at', at, '--script', 'echo at']), 'submit');
    expect(submitted.stdout).toMatch(new RegExp(`^submitted once-at: runs once, at ${shown(at)}; first run at ${shown(at)} \\(in [^)]+\\)\\n$`));
    const later = new Date(Math.ceil((Date.now() + 3_600_000) / 1000) * 1000).toISOString();
    ok(await cli(['submit', 'later-at', '--at', later, '--script', 'echo later']), 'submit');
    const task = parseJson<TaskView>(await cli(['get', 'later-at', '--json']));
    expect(task).toMatchObject({ type: 'at', time: later, timezone: daemonZone, start: null, end: null, nextRunAt: later, status: 'ToBeExecuted' });
    const upcoming = ok(await cli(['next', 'later-at', '-n', '3']), 'next');
    expect(lines(upcoming)).toHaveLength(1);
    expect(upcoming.stdout).toMatch(new RegExp(`^${shown(later)}  \\(in [^)]+\\)\\n$`));
    ok(await cli(['delete', 'later-at']), 'delete');

    const done = await daemon.waitForStatus('once-at', 'Executed', 15_000);
    expect(done.nextRunAt).toBeNull();
    expect(done.results).toHaveLength(1);
    expect(done.results[0]).toMatchObject({ run: 1, scheduledAt: at, outcome: 'succeeded', stdout: 'at\n' });
    expect(ok(await cli(['next', 'once-at']), 'next').stdout).toBe('once-at will not run again (Executed)\n');
    expect(parseJson(ok(await cli(['next', 'once-at', '--json']), 'next --json'))).toEqual({ id: 'once-at', status: 'Executed', nextRuns: [] });
  });

  test('--every with --end fires on its grid until the end, then is Executed; nothing is scheduled after the end', async ({ expect }) => {
    // Far enough ahead that a CLI slowed by a loaded machine still submits before it (one
    // took 2-3 s with four test files at once on a slow host).
    const end = new Date(Date.now() + 8000).toISOString();
    const submitted = ok(await cli(['submit', 'bounded', '--every', '300ms', '--end', end, '--script', 'echo beat']), 'submit');
    expect(submitted.stdout).toMatch(new RegExp(`^submitted bounded: runs every 300ms, until ${shown(end)}; first run at `));
    const task = parseJson<TaskView>(await cli(['get', 'bounded', '--json']));
    expect(task).toMatchObject({ type: 'cron', time: '300ms', end });
    // An interval's grid starts one interval after submission; `start` says where.
    expect(ms(task.start) - ms(task.createdAt)).toBe(300);

    const done = await daemon.waitForStatus('bounded', 'Executed', 15_000);
    expect(done.nextRunAt).toBeNull();
    expect(done.results.length).toBeGreaterThanOrEqual(1);
    const onGrid = (run: RunView) => (ms(run.scheduledAt) - ms(task.start)) % 300 === 0;
    for (const run of done.results) {
      expect(onGrid(run), run.scheduledAt).toBe(true);
      expect(ms(run.scheduledAt)).toBeLessThanOrEqual(ms(end));
      expect(run.finishedAt).not.toBeNull();
    }
    const last = done.results.at(-1)!;
    expect(ms(done.lastStatusUpdated)).toBeGreaterThanOrEqual(ms(last.finishedAt));
    expect(ok(await cli(['next', 'bounded']), 'next').stdout).toBe('bounded will not run again (Executed)\n');

    // Past the next two grid points after the end: nothing more ran.
    await daemon.waitUntilSchedulerPassed(ms(end) + 600);
    const later = await daemon.task('bounded');
    expect(later).toMatchObject({ status: 'Executed', version: done.version });
    expect(later!.results).toEqual(done.results);
  });
});

describe('submit --dry-run and next', () => {
  const weekdays = ['--cron', '0 9 * * MON-FRI', '--tz', 'Europe/Paris', '--start', '2030-01-05', '--end', '2030-01-10 09:00', '--script', './report.sh'];
  // 2030-01-05 is a Saturday; Paris is UTC+1 in January; the end is inclusive.
  const fires = ['2030-01-07T08:00:00.000Z', '2030-01-08T08:00:00.000Z', '2030-01-09T08:00:00.000Z', '2030-01-10T08:00:00.000Z'];
  let fresh: DaemonProcess;

  beforeAll(async () => {
    // A daemon of its own, so that "no tasks" means the dry runs stored nothing.
    fresh = await e2e.startDaemon({ env: { TZ: daemonZone } });
  });

  test('--dry-run prints when the task would run, and stores nothing', async ({ expect }) => {
    const preview = ok(await fresh.cli(['submit', 'report', ...weekdays, '--dry-run', '-n', '3'], cliEnv), 'dry run');
    expect(preview.stderr).toBe('');
    expect(lines(preview)).toHaveLength(4);
    expect(lines(preview)[0]).toBe(`report would run on "0 9 * * MON-FRI" (Europe/Paris), until ${shown(fires[3]!)} (not submitted); next runs:`);
    fires.slice(0, 3).forEach((at, k) => expect(lines(preview)[k + 1]).toMatch(new RegExp(`^  ${shown(at)}  \\(in [^)]+\\)$`)));

    // Five unless asked, and fewer when the schedule ends first.
    expect(lines(ok(await fresh.cli(['submit', 'report', ...weekdays, '--dry-run'], cliEnv), 'dry run')).slice(1).map((line) => line.slice(2, 21))).toEqual(fires.map(shown));
    const json = parseJson<TaskView & { nextRuns: string[] }>(ok(await fresh.cli(['submit', 'report', ...weekdays, '--dry-run', '-n', '2', '--json'], cliEnv), 'dry run --json'));
    expect(json).toMatchObject({ id: 'report', type: 'cron', time: '0 9 * * MON-FRI', timezone: 'Europe/Paris', start: '2030-01-04T23:00:00.000Z', end: fires[3], nextRunAt: fires[0], nextRuns: fires.slice(0, 2) });
    const once = ok(await fresh.cli(['submit', 'once', '--at', '2030-06-01 09:30', '--script', 'true', '--dry-run'], cliEnv), 'dry run --at');
    // Read in the daemon's zone: 09:30 in New York is 13:30 UTC in June.
    expect(once.stdout).toMatch(/^once would run once, at 2030-06-01 13:30:00 \(not submitted\); next runs:\n {2}2030-06-01 13:30:00 {2}\(in [^)]+\)\n$/);

    const list = ok(await fresh.cli(['list'], cliEnv), 'list');
    expect(list.stdout).toBe('no tasks\n');
    expect(await fresh.task('report')).toBeUndefined();
    expect(await fresh.task('once')).toBeUndefined();

    // The id is still free, and the task submitted is the one the dry run showed.
    const task = parseJson<TaskView>(ok(await fresh.cli(['submit', 'report', ...weekdays, '--json'], cliEnv), 'submit'));
    expect(task).toMatchObject({ timezone: 'Europe/Paris', start: '2030-01-04T23:00:00.000Z', end: fires[3], nextRunAt: fires[0] });
  });

  test('next ID -n 3 prints the next three fire times; next without -n prints up to five; --json', async ({ expect }) => {
    ok(await fresh.cli(['submit', 'upcoming', ...weekdays], cliEnv), 'submit');
    const three = ok(await fresh.cli(['next', 'upcoming', '-n', '3'], cliEnv), 'next -n 3');
    expect(three.stderr).toBe('');
    expect(lines(three)).toHaveLength(3);
    fires.slice(0, 3).forEach((at, k) => expect(lines(three)[k]).toMatch(new RegExp(`^${shown(at)}  \\(in [^)]+\\)$`)));
    // Five asked by default; the schedule has four left.
    expect(lines(ok(await fresh.cli(['next', 'upcoming'], cliEnv), 'next')).map((line) => line.slice(0, 19))).toEqual(fires.map(shown));
    expect(parseJson(ok(await fresh.cli(['next', 'upcoming', '-n', '2', '--json'], cliEnv), 'next --json'))).toEqual({ id: 'upcoming', status: 'ToBeExecuted', nextRuns: fires.slice(0, 2) });
  });

  test('a stored schedule survives a restart of the daemon', async ({ expect }) => {
    const own = await e2e.startDaemon({ env: { TZ: daemonZone } });
    ok(await own.cli(['submit', 'kept', ...weekdays], cliEnv), 'submit');
    ok(await own.cli(['submit', 'kept-interval', '--every', '1h', '--start', '2030-01-01T00:00:00Z', '--end', '2030-01-01T02:00:00Z', '--script', 'true'], cliEnv), 'submit');
    const before = [await own.task('kept'), await own.task('kept-interval')];
    await own.stop();
    const again = await e2e.restart(own);
    expect([await again.task('kept'), await again.task('kept-interval')]).toEqual(before);
    expect(parseJson(ok(await again.cli(['next', 'kept', '--json', '-n', '10'], cliEnv), 'next'))).toEqual({ id: 'kept', status: 'ToBeExecuted', nextRuns: fires });
    expect(parseJson(ok(await again.cli(['next', 'kept-interval', '--json'], cliEnv), 'next'))).toEqual({
      id: 'kept-interval',
      status: 'ToBeExecuted',
      nextRuns: ['2030-01-01T00:00:00.000Z', '2030-01-01T01:00:00.000Z', '2030-01-01T02:00:00.000Z'],
    });
  });

  test('next of an unknown task exits 4; an impossible -n exits 2', async ({ expect }) => {
    const unknown = await fresh.cli(['next', 'ghost'], cliEnv);
    expect(unknown).toMatchObject({ code: 4, stdout: '', stderr: 'scheduler: no task with id "ghost"; "scheduler list" shows the tasks there are\n' });
    for (const n of ['0', '101', 'three']) {
      const result = await fresh.cli(['next', 'ghost', '-n', n], cliEnv);
      expect(result).toMatchObject({ code: 2, stdout: '', stderr: `scheduler: -n: "${n}" is not a whole number from 1 to 100\n` });
    }
  });
});

describe.concurrent('schedule errors exit 2 with the message, storing nothing', () => {
  test.for([
    ['a bad cron expression', 'bad-expression', ['--cron', '61 * * * *'], /^scheduler: time: "61 \* \* \* \*" is not a cron expression \(.+\)\. Write 5 fields/],
    ['a cron expression of too few fields', 'few-fields', ['--cron', '* *'], /^scheduler: time: "\* \*" is not a cron expression/],
    ['a bad zone', 'bad-zone', ['--cron', '@hourly', '--tz', 'Mars/Olympus'], /^scheduler: timezone: "Mars\/Olympus" is not a time zone; use an IANA name/],
    ['two schedule flags', 'two-flags', ['--every', '1s', '--cron', '@hourly'], /^scheduler: say when to run one way only \(got --every and --cron\)\n$/],
    ['the spec flags and a schedule flag', 'spec-and-at', ['-type=delay', '-time=1s', '--at', '2030-01-01T00:00:00Z'], /^scheduler: say when to run one way only \(got -type\/-time and --at\)\n$/],
    ['an --at time that has passed', 'past-at', ['--at', '2020-01-01T00:00:00Z'], /^scheduler: time: 2020-01-01T00:00:00\.000Z has passed; give a time in the future\n$/],
    ['an --at time that is not a time', 'bad-at', ['--at', 'tomorrow'], /^scheduler: time: "tomorrow" is not a time; .*\(read in America\/New_York\)\n$/],
    ['--start with --at', 'start-at', ['--at', '2030-01-01T00:00:00Z', '--start', '2029-12-01'], /^scheduler: start: only a recurring \(cron\) task has a start or an end/],
    ['an --end before the --start', 'end-first', ['--every', '1h', '--start', '2030-01-02', '--end', '2030-01-01'], /^scheduler: end: 2030-01-01 is before the start, 2030-01-02\n$/],
    ['an --end that has passed', 'end-passed', ['--every', '1h', '--end', '2020-01-01T00:00:00Z'], /^scheduler: end: the schedule ends before it would first fire/],
    ['a bad expression in a dry run', 'dry-bad', ['--cron', 'every day', '--dry-run'], /^scheduler: time: "every day" is not a cron expression/],
    ['an impossible -n in a dry run', 'dry-n', ['--every', '1h', '--dry-run', '-n', '0'], /^scheduler: --next: "0" is not a whole number from 1 to 100\n$/],
  ] as const)('%s', async ([_label, id, flags, message], { expect }) => {
    const result = await cli(['submit', id, ...flags, '--script', 'true']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(await daemon.task(id)).toBeUndefined();
  });
});

describe('how a submit describes its schedule', () => {
  // src bug: describeSchedule tells a duration from a cron expression with
  // /^[0-9.]+[a-zµ]+$/, which misses compound durations: the spec's own "1h30m" interval is
  // printed as a cron expression.
  test('an interval written as a compound duration runs "every" it, as the spec\'s -type=cron says', async ({ expect }) => {
    for (const [id, flags] of [
      ['compound-spec', ['-type=cron', '-time=1h30m']],
      ['compound-every', ['--every', '2h45m30.5s']],
    ] as const) {
      const result = ok(await cli(['submit', id, ...flags, '--script', 'true']), 'submit');
      expect(result.stdout).toMatch(new RegExp(`^submitted ${id}: runs every ${flags.at(-1)!.replace(/^-time=/, '').replace('.', '\\.')}; first run at `));
    }
  });
});
