/**
 * `scheduler list`, `get`, `delete` and the --json forms of submit, get, list and stop,
 * against a real daemon. The listing tests run one after the other and see the tasks the
 * earlier ones submitted; the get and delete tests then run side by side on tasks of their own.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, test } from 'vitest';
import { ok, parseJson } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { isProcessAlive } from '../support/processes.js';
import { ms, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

const longScript = `echo ${'x'.repeat(300)}`;

describe('scheduler list', () => {
  test('with no tasks: "no tasks", and [] with --json', async ({ expect }) => {
    const list = await daemon.cli(['list']);
    expect(list).toMatchObject({ code: 0, stdout: 'no tasks\n', stderr: '' });
    const json = await daemon.cli(['list', '--json']);
    expect(json.code).toBe(0);
    expect(parseJson(json)).toEqual([]);
  });

  test('submit --json answers with the task as JSON', async ({ expect }) => {
    const before = Date.now();
    const result = ok(await daemon.cli(['submit', 'calc', '-type=delay', '-time=1h', '-script=echo $((6*7))', '--json']), 'submit');
    expect(result.stderr).toBe('');
    const task = parseJson<TaskView>(result);
    expect(task).toMatchObject({
      id: 'calc',
      type: 'delay',
      time: '1h',
      script: 'echo $((6*7))',
      status: 'ToBeExecuted',
      version: 1,
      stopRequested: false,
      results: [],
    });
    expect(ms(task.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(ms(task.nextRunAt) - ms(task.createdAt)).toBe(3_600_000);
    expect(task.lastStatusUpdated).toBe(task.createdAt);
    expect(task.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    ok(await daemon.cli(['submit', 'every-hour', '--type', 'cron', '--time', '1h30m', '--script', longScript]), 'submit');
    ok(await daemon.cli(['submit', 'halted', '--type', 'delay', '--time', '1.5h', '--script', 'true']), 'submit');
    const stop = ok(await daemon.cli(['stop', 'halted', '--json']), 'stop');
    expect(stop.stderr).toBe('');
    const stopped = parseJson<TaskView>(stop);
    expect(stopped).toMatchObject({ id: 'halted', status: 'Stopped', nextRunAt: null, version: 2, results: [] });
    expect(stopped.warning).toBeUndefined();
  });

  test('prints an aligned table: ID TYPE TIME STATUS LAST CHANGE NEXT RUN SCRIPT, in submission order', async ({ expect }) => {
    const result = ok(await daemon.cli(['list']), 'list');
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    const header = lines[0]!;
    expect(header).toMatch(/^ID +TYPE +TIME +STATUS +LAST CHANGE +NEXT RUN +SCRIPT$/);
    const columns = ['TYPE', 'TIME', 'STATUS', 'LAST CHANGE', 'NEXT RUN', 'SCRIPT'].map((name) => header.indexOf(name));

    const time = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;
    const expected: Array<[string, string[]]> = [
      ['calc', ['delay', '1h', 'ToBeExecuted', time, time, String.raw`echo \$\(\(6\*7\)\)`]],
      ['every-hour', ['cron', '1h30m', 'ToBeExecuted', time, time, 'echo x+…']],
      ['halted', ['delay', '1.5h', 'Stopped', time, '-', 'true']],
    ];
    for (const [row, [id, cells]] of expected.entries()) {
      const line = lines[row + 1]!;
      expect(line.startsWith(`${id} `), line).toBe(true);
      // Every value starts right under its header.
      for (const [column, cell] of cells.entries()) {
        const at = columns[column]!;
        expect(line.slice(at), `${id}, column ${column + 1}`).toMatch(new RegExp(`^${cell}( |$)`));
        expect(line[at - 1], `${id}, column ${column + 1}`).toBe(' ');
      }
    }
    // A long script is cut so that a row fits on one line.
    expect(lines[2]!.length).toBeLessThanOrEqual(120);
    expect(lines[2]!.endsWith('…')).toBe(true);
  });

  test('--json gives an array of the tasks without their results', async ({ expect }) => {
    const tasks = parseJson<TaskView[]>(ok(await daemon.cli(['list', '--json']), 'list --json'));
    expect(tasks.map((task) => [task.id, task.type, task.time, task.status])).toEqual([
      ['calc', 'delay', '1h', 'ToBeExecuted'],
      ['every-hour', 'cron', '1h30m', 'ToBeExecuted'],
      ['halted', 'delay', '1.5h', 'Stopped'],
    ]);
    expect(tasks[1]!.script).toBe(longScript);
    for (const task of tasks) {
      expect(Object.keys(task)).toEqual(expect.arrayContaining(['id', 'type', 'time', 'script', 'status', 'lastStatusUpdated', 'version', 'nextRunAt']));
      expect(task).not.toHaveProperty('results');
    }
  });

  test('--status keeps the tasks with that status, in both flag styles', async ({ expect }) => {
    const stopped = ok(await daemon.cli(['list', '--status', 'Stopped']), 'list');
    expect(stopped.stdout.trimEnd().split('\n').map((line) => line.split(' ')[0])).toEqual(['ID', 'halted']);
    const waiting = parseJson<TaskView[]>(ok(await daemon.cli(['list', '-status=ToBeExecuted', '--json']), 'list'));
    expect(waiting.map((task) => task.id)).toEqual(['calc', 'every-hour']);
    const none = ok(await daemon.cli(['list', '--status', 'Executing']), 'list');
    expect(none.stdout).toBe('no tasks\n');
    const bad = await daemon.cli(['list', '--status', 'Sleeping']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/Allowed choices are ToBeExecuted, Executing, Executed, WaitForNextExecution, Stopped/);
  });
});

describe('scheduler runs', () => {
  test("lists a task's runs newest first as a table, filters by outcome, limits, and --json", async ({ expect }) => {
    ok(await daemon.cli(['submit', 'history', '-type=cron', '-time=200ms', '-script=[ $((SCHEDULER_RUN % 2)) = 1 ] || exit 3']), 'submit');
    await daemon.waitForTask('history', '4 finished runs', (task) => task.results.filter((run) => run.finishedAt !== null).length >= 4);
    ok(await daemon.cli(['stop', 'history']), 'stop');
    const task = await daemon.waitForStatus('history', 'Stopped');
    const newestFirst = task.results.map((run) => run.run).reverse();

    const table = ok(await daemon.cli(['runs', 'history']), 'runs');
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^RUN +SCHEDULED +ATTEMPT +STARTED +DURATION +OUTCOME +EXIT$/);
    expect(rows.map((row) => Number(row.split(/ +/)[0]))).toEqual(newestFirst);
    // A fire that comes while the run before it still executes (a busy machine: 200 ms) is
    // skipped by the overlap rule, and listed as such.
    for (const row of rows) expect(row).toMatch(/ (succeeded +0|failed +3|skipped +-)$/);

    const failed = ok(await daemon.cli(['runs', 'history', '--outcome', 'failed']), 'runs --outcome');
    const failedRows = failed.stdout.trimEnd().split('\n').slice(1);
    expect(failedRows.length).toBeGreaterThan(0);
    for (const row of failedRows) expect(row).toMatch(/ failed +3$/);

    const one = ok(await daemon.cli(['runs', 'history', '--limit', '1', '--json']), 'runs --json');
    expect(parseJson<Array<{ run: number }>>(one).map((run) => run.run)).toEqual([newestFirst[0]]);

    const unknown = await daemon.cli(['runs', 'nobody-here']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no task with id "nobody-here"/);
  });
});

describe.concurrent('get and delete', () => {
  describe('scheduler get', () => {
    test('prints id, type, time, script, status, last change and results', async ({ expect }) => {
      const result = ok(await daemon.cli(['get', 'calc']), 'get');
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(
        /^id: +calc\ntype: +delay\ntime: +1h\nscript: +echo \$\(\(6\*7\)\)\nlang: +bash\nstatus: +ToBeExecuted\nlast change: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nnext run: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nversion: +1\nresults: +none yet\n$/,
      );
    });

    test('--json gives the task with its results', async ({ expect }) => {
      ok(await daemon.cli(['submit', 'quick', '-type=delay', '-time=100ms', '-script=echo out; echo err >&2; exit 3']), 'submit');
      await daemon.waitForStatus('quick', 'Executed');
      const task = parseJson<TaskView>(ok(await daemon.cli(['get', 'quick', '--json']), 'get --json'));
      expect(task).toMatchObject({ id: 'quick', status: 'Executed', nextRunAt: null });
      expect(task.results).toHaveLength(1);
      expect(task.results[0]).toMatchObject({ run: 1, outcome: 'failed', exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
      for (const field of ['scheduledAt', 'startedAt', 'finishedAt'] as const) {
        expect(task.results[0]![field]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      const human = ok(await daemon.cli(['get', 'quick']), 'get');
      expect(human.stdout).toMatch(/^ {2}run 1: failed, exit 3, scheduled .*\n {4}stdout:\n {6}out\n {4}stderr:\n {6}err$/m);
    });
  });

  describe('scheduler delete', () => {
    test('removes the task: get then fails with exit 4 and a message on stderr', async ({ expect }) => {
      ok(await daemon.cli(['submit', 'gone', '-type=delay', '-time=100ms', '-script=echo old']), 'submit');
      await daemon.waitForStatus('gone', 'Executed');
      const deleted = await daemon.cli(['delete', 'gone']);
      expect(deleted).toMatchObject({ code: 0, stdout: 'deleted gone\n', stderr: '' });

      const get = await daemon.cli(['get', 'gone']);
      expect(get.code).toBe(4);
      expect(get.stdout).toBe('');
      expect(get.stderr).toBe('scheduler: no task with id "gone"; "scheduler list" shows the tasks there are\n');
      const list = parseJson<TaskView[]>(ok(await daemon.cli(['list', '--json']), 'list'));
      expect(list.map((task) => task.id)).not.toContain('gone');

      const again = await daemon.cli(['delete', 'gone']);
      expect(again.code).toBe(4);
      expect(again.stderr).toMatch(/no task with id "gone"/);

      // The id is free again, and the new task starts afresh, without the old one's results.
      ok(await daemon.cli(['submit', 'gone', '-type=delay', '-time=1h', '-script=true']), 'submit again');
      expect(await daemon.task('gone')).toMatchObject({ version: 1, status: 'ToBeExecuted', results: [] });
    });

    test('removes a task with its results, and a cron task so that it never runs again', async ({ expect }) => {
      ok(await daemon.cli(['submit', 'busy-cron', '-type=cron', '-time=300ms', '-script=echo tick']), 'submit');
      await daemon.waitForTask('busy-cron', 'two runs', (task) => task.results.length >= 2);
      const deleted = await daemon.cli(['delete', 'busy-cron']);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect((await daemon.cli(['get', 'busy-cron'])).code).toBe(4);
      // Had it survived, it would have run again by now (and reappeared in the store).
      await daemon.waitUntilSchedulerPassed(Date.now() + 600);
      expect(await daemon.task('busy-cron')).toBeUndefined();
    });

    test('of a task whose script is running kills its whole process group', async ({ expect }) => {
      const mainPidFile = join(scratch, 'main.pid');
      const childPidFile = join(scratch, 'child.pid');
      const never = join(scratch, 'never');
      const release = gate(scratch, 'delete-running');
      ok(
        await daemon.cli([
          'submit', 'doomed', '-type=delay', '-time=100ms',
          `-script=echo $$ > ${mainPidFile}; sleep 30 & echo $! > ${childPidFile}; ${release.wait}; wait; touch ${never}`,
        ]),
        'submit',
      );
      const pids = await waitFor('the script to write its pids', () => {
        if (!existsSync(mainPidFile) || !existsSync(childPidFile)) return undefined;
        const main = Number(readFileSync(mainPidFile, 'utf8'));
        const child = Number(readFileSync(childPidFile, 'utf8'));
        return main > 0 && child > 0 ? { main, child } : undefined;
      });
      expect((await daemon.task('doomed'))?.status).toBe('Executing');
      expect(isProcessAlive(pids.main)).toBe(true);
      expect(isProcessAlive(pids.child)).toBe(true);
      release.open(); // the script now waits for its background sleep

      const deleted = await daemon.cli(['delete', 'doomed']);
      expect(deleted).toMatchObject({ code: 0, stdout: 'deleted doomed\n', stderr: '' });
      await waitFor(`the background sleep (pid ${pids.child}) to be gone`, () => !isProcessAlive(pids.child), { timeoutMs: 3000 });
      await waitFor(`the script's shell (pid ${pids.main}) to be gone`, () => !isProcessAlive(pids.main), { timeoutMs: 3000 });
      expect(existsSync(never)).toBe(false);

      const get = await daemon.cli(['get', 'doomed']);
      expect(get.code).toBe(4);
      expect(get.stderr).toMatch(/no task with id "doomed"/);
      const stop = await daemon.cli(['stop', 'doomed']);
      expect(stop.code).toBe(4);
      // The daemon goes on serving.
      expect((await daemon.cli(['list'])).code).toBe(0);
    });
  });
});
