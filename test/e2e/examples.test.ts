/**
 * The spec's two examples, run for real with short durations, in both flag styles; and the
 * CLI's help.
 */
import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import { ms, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
});

/** What `ls` prints in the scripts' working directory (the daemon user's home). */
function expectedLs(): Set<string> {
  return new Set(readdirSync(homedir()).filter((name) => !name.startsWith('.')));
}

async function getJson(id: string): Promise<TaskView> {
  const result = await daemon.cli(['get', id, '--json']);
  if (result.code !== 0) throw new Error(`get ${id} --json exited ${result.code}: ${result.stderr}`);
  return parseJson<TaskView>(result);
}

// The examples take seconds of real time each: they run side by side on one daemon.
describe.concurrent('the spec examples', () => {

describe.each([
  ['spec flag style', 'print_ls_per_10s', ['-type=cron', '-time=1s', '-script=ls']],
  ['GNU flag style', 'print_ls_gnu', ['--type', 'cron', '--time', '1s', '--script', 'ls']],
])('cron example, %s: submit %s ... -type=cron -time=1s -script="ls"', (_style, id, flags) => {
  test('runs ls again and again; every result is kept and succeeded', async ({ expect }) => {
    const submitted = await daemon.cli(['submit', id, ...flags]);
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(new RegExp(`^submitted ${id}: runs every 1s; first run at .+ \\((in [^)]+|now|[^)]+ ago)\\)\\n$`)); // (a second ahead, unless the machine is that slow)

    const task = await daemon.waitForTask(id, 'two finished runs', (t) =>
      t.results.filter((run) => run.outcome !== 'running').length >= 2,
    );
    expect(task.type).toBe('cron');
    expect(task.time).toBe('1s');
    expect(task.script).toBe('ls');
    // One read: Executing exactly while a run is executing, waiting for the next one otherwise.
    expect(task.status).toBe(task.results.some((run) => run.outcome === 'running') ? 'Executing' : 'WaitForNextExecution');

    const [first, second] = task.results;
    for (const run of [first!, second!]) {
      expect(run.outcome).toBe('succeeded');
      expect(run.exitCode).toBe(0);
      expect(new Set(run.stdout.split('\n').filter(Boolean))).toEqual(expectedLs());
    }
    expect([first!.run, second!.run]).toEqual([1, 2]);
    // Every second on the grid anchored at submission: createdAt + 1s, createdAt + 2s.
    expect(ms(first!.scheduledAt) - ms(task.createdAt)).toBe(1000);
    expect(ms(second!.scheduledAt) - ms(task.createdAt)).toBe(2000);
    expect(ms(first!.startedAt)).toBeGreaterThanOrEqual(ms(first!.scheduledAt));

    // The human view lists every result with its time.
    const human = await daemon.cli(['get', id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^type: +cron$/m);
    expect(human.stdout).toMatch(/^ {2}run 1: succeeded, exit 0, scheduled \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/m);
    expect(human.stdout).toMatch(/^ {2}run 2: succeeded, exit 0, scheduled /m);

    const stopped = await daemon.cli(['stop', id]);
    expect(stopped.code, stopped.stderr).toBe(0);
    await daemon.waitForStatus(id, 'Stopped');
  });
});

describe.each([
  ['spec flag style', 'do_calc_after_1min', ['-type=delay', '-time=500ms', '-script=sleep 1;echo $((1+2))']],
  ['GNU flag style', 'do_calc_gnu', ['--type', 'delay', '--time', '500ms', '--script', 'sleep 1;echo $((1+2))']],
  ['GNU flag style with =', 'do_calc_gnu_eq', ['--type=delay', '--time=500ms', '--script=sleep 1;echo $((1+2))']],
])("delay example, %s: submit %s -type=delay -time=500ms -script='sleep 1;echo $((1+2))'", (_style, id, flags) => {
  test('runs once after the delay, sleeps, prints 3, which is kept as the result; ends Executed', async ({ expect }) => {
    const submitted = await daemon.cli(['submit', id, ...flags]);
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(new RegExp(`^submitted ${id}: runs once, after 500ms; first run at .+\\n$`));

    await daemon.waitForStatus(id, 'Executed');
    // Read through the CLI for the spec's own example; the other flag styles only change how
    // the task is submitted, so their result is read straight from the API.
    const task = id === 'do_calc_after_1min' ? await getJson(id) : (await daemon.task(id))!;
    expect(task).toMatchObject({ id, type: 'delay', time: '500ms', script: 'sleep 1;echo $((1+2))', status: 'Executed', nextRunAt: null });
    expect(task.results).toHaveLength(1);
    const run = task.results[0]!;
    expect(run).toMatchObject({ run: 1, outcome: 'succeeded', exitCode: 0, signal: null, stdout: '3\n', stderr: '' });
    // It started no earlier than 500ms after submission and took the second it sleeps.
    expect(ms(run.scheduledAt) - ms(task.createdAt)).toBe(500);
    expect(ms(run.startedAt)).toBeGreaterThanOrEqual(ms(task.createdAt) + 500);
    expect(ms(run.finishedAt) - ms(run.startedAt)).toBeGreaterThanOrEqual(1000);
    expect(ms(task.lastStatusUpdated)).toBeGreaterThanOrEqual(ms(run.finishedAt));

    if (id !== 'do_calc_after_1min') return;
    const human = await daemon.cli(['get', id]);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe('');
    expect(human.stdout).toMatch(new RegExp(`^id: +${id}$`, 'm'));
    expect(human.stdout).toMatch(/^status: +Executed$/m);
    expect(human.stdout).toMatch(/^script: +sleep 1;echo \$\(\(1\+2\)\)$/m);
    expect(human.stdout).toMatch(/^last change: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m);
    expect(human.stdout).toMatch(/^ {2}run 1: succeeded, exit 0, .*took \d+(\.\d+)?s$/m); // the second it sleeps, and more on a busy machine
    expect(human.stdout).toMatch(/^ {4}stdout:\n {6}3$/m);
  });
});

});

describe('help', () => {
  test('scheduler --help exits 0 and shows the usage with every command', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Usage: scheduler \[options\] \[command\]/);
    for (const command of ['daemon', 'submit', 'list', 'get', 'next', 'stop', 'delete']) {
      expect(result.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    }
    expect(result.stdout).toContain('--server <url>');
  });

  test('scheduler submit --help exits 0 and shows the submit usage with the spec examples', async () => {
    for (const args of [['submit', '--help'], ['submit', '-help'], ['help', 'submit']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^Usage: scheduler submit \[options\] <id>/);
      expect(result.stdout).toContain('--type <type>');
      expect(result.stdout).toContain('--time <time>');
      for (const flag of ['--every <duration>', '--cron <expression>', '--at <time>', '--tz <zone>', '--start <time>', '--end <time>', '--dry-run']) {
        expect(result.stdout).toContain(flag);
      }
      expect(result.stdout).toContain('--script <script>');
      expect(result.stdout).toContain('scheduler submit print_ls_per_10s -type=cron -time=10s -script="ls"');
    }
  });

  test('scheduler daemon --help shows the default address, port 8865', async () => {
    const result = await runCli(['daemon', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: scheduler daemon \[options\]/);
    expect(result.stdout).toMatch(/--listen <host:port>[\s\S]*\(default:\s+127\.0\.0\.1:8865;/);
  });

  test('scheduler --version prints the version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
