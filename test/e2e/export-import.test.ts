/**
 * `scheduler export` and `scheduler import`, daemon to daemon: a SQLite daemon's tasks moved to
 * a PostgreSQL daemon (a schema of its own), with their states and runs, output included. The
 * export file is the reference: the tasks that no longer change (a delay done, a paused task)
 * must read the same on both daemons, and a cron task's exported runs the same on both, while
 * on the new daemon it goes on firing. A run executing at the export arrives interrupted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { RunView } from '../support/api-views.js';
import { childEnv, cliPath, type CliResult } from '../support/cli.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { withDeadline } from '../support/wait.js';

const e2e = useE2e();
const postgresStore = e2e.sharedPostgresStore(); // dropped once the file's daemons have exited
let sqlite: DaemonProcess;
let postgres: DaemonProcess;
let exportFile: string;

/** A run as both daemons must show it: `node` names the daemon that executed it, which differs. */
function comparable(run: RunView): Omit<RunView, 'node'> {
  const { node: _node, ...rest } = run as RunView & { node?: string };
  return rest;
}

/** The task lines of the export file, by task id. */
function exportedTasks(): Map<string, { task: { lastRun: number; state: { status: string } }; runs: Array<{ run: number; outcome: string }> }> {
  const lines = readFileSync(exportFile, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const tasks = lines.filter((line) => 'task' in line) as Array<{ task: { id: string; lastRun: number; state: { status: string } }; runs: Array<{ run: number; outcome: string }> }>;
  return new Map(tasks.map((line) => [line.task.id, line]));
}

beforeAll(async () => {
  sqlite = await e2e.startDaemon();
  postgres = await e2e.startDaemon({ args: ['--store', postgresStore] });
  const scratch = e2e.tempDir();
  exportFile = join(scratch, 'tasks.ndjson');

  await sqlite.submit('done-once', ['--type', 'delay', '--time', '100ms', '--script', 'echo once out; echo once err >&2']);
  await sqlite.submit('ticking', ['--type', 'cron', '--time', '1s', '--script', 'echo "tick $(date +%s%N)"; printf "%0500d" 0 >&2']);
  await sqlite.submit('held', ['--type', 'cron', '--time', '1h', '--script', 'echo never']);
  await sqlite.submit('busy', ['--type', 'delay', '--time', '100ms', '--script', 'echo started; sleep 60']);
  const paused = await sqlite.cli(['pause', 'held']);
  expect(paused.code, paused.stderr).toBe(0);
  await sqlite.waitForStatus('done-once', 'Executed');
  await sqlite.waitForTask('busy', 'executing with its first output', (task) => task.status === 'Executing' && (task.results[0]?.stdout ?? '').includes('started'));
  await sqlite.waitForTask('ticking', '3 runs succeeded', (task) => task.results.filter((run) => run.outcome === 'succeeded').length >= 3, 15_000);

  const exported = await sqlite.cli(['export', '--output', exportFile], { timeoutMs: 30_000 });
  expect(exported.code, exported.stderr).toBe(0);
  expect(exported.stdout).toMatch(/^exported 4 tasks with \d+ runs to /);
}, 60_000);

describe('scheduler export then scheduler import, from SQLite to PostgreSQL', () => {
  test('imports every task with its runs, and reports a run in progress as interrupted', async () => {
    const imported = await postgres.cli(['import', exportFile], { timeoutMs: 30_000 });
    expect(imported.code, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    const exportedRuns = [...exportedTasks().values()].flatMap((line) => line.runs);
    // busy's run, and ticking's if the export caught it executing.
    const inProgress = exportedRuns.filter((run) => run.outcome === 'running').length;
    expect(inProgress).toBeGreaterThanOrEqual(1);
    expect(imported.stdout).toContain(
      `imported 4 tasks with ${exportedRuns.length} runs; ${inProgress} run${inProgress === 1 ? '' : 's'} in progress at the export recorded as interrupted`,
    );

    // Tasks that no longer change read the same on both daemons, runs and output included.
    for (const id of ['done-once', 'held']) {
      const before = await sqlite.existingTask(id);
      const after = await postgres.existingTask(id);
      expect({ ...after, results: after.results.map(comparable) }, id).toEqual({ ...before, results: before.results.map(comparable) });
    }
    const once = await postgres.existingTask('done-once');
    expect(once.results[0]).toMatchObject({ outcome: 'succeeded', stdout: 'once out\n', stderr: 'once err\n', stdoutBytes: 9, stderrBytes: 9 });
    expect((await postgres.existingTask('held')).status).toBe('Paused');

    // The run executing at the export: interrupted on the new daemon, with its output so far.
    const busy = await postgres.existingTask('busy');
    expect(busy.status).toBe('Executed');
    expect(busy.results).toHaveLength(1);
    expect(busy.results[0]).toMatchObject({ run: 1, outcome: 'interrupted', stdout: 'started\n' });
    expect(busy.results[0]!.error).toContain('exported');
  });

  test("the cron task's exported runs match, with their output, and it goes on firing on the new daemon", async () => {
    const line = exportedTasks().get('ticking')!;
    // A run the export caught executing is interrupted on the new daemon (the test above): the finished ones must match.
    const exportedRuns = new Set(line.runs.filter((run) => run.outcome !== 'running').map((run) => run.run));
    expect(exportedRuns.size).toBeGreaterThanOrEqual(3);
    const source = await sqlite.existingTask('ticking');
    const fromSource = source.results.filter((run) => exportedRuns.has(run.run)).map(comparable);
    // The source goes on firing after the export, and prunes nothing this soon: all exported runs are still there.
    expect(fromSource).toHaveLength(exportedRuns.size);
    const moved = await postgres.waitForTask(
      'ticking',
      `a run after the imported ones (${line.task.lastRun}) succeeded`,
      (task) => task.results.some((run) => run.run > line.task.lastRun && run.outcome === 'succeeded'),
      15_000,
    );
    expect(moved.results.filter((run) => exportedRuns.has(run.run)).map(comparable)).toEqual(fromSource);
    for (const run of fromSource.filter((r) => r.outcome === 'succeeded')) {
      expect(run.stdout).toMatch(/^tick \d+\n$/);
      expect(run.stderrBytes).toBe(500);
    }
    const next = moved.results.find((run) => run.run > line.task.lastRun && run.outcome === 'succeeded')!;
    expect(next.stdout).toMatch(/^tick \d+\n$/);
    // Numbered on from the imported ones (a record of the fires missed during the move may come first).
    const after = moved.results.filter((run) => run.run > line.task.lastRun).map((run) => run.run);
    expect(after).toEqual(after.map((_, index) => line.task.lastRun + 1 + index));
  });

  test('importing again refuses every task that exists, naming it; --skip-existing skips them', async () => {
    const again = await postgres.cli(['import', exportFile], { timeoutMs: 30_000 });
    expect(again.code, again.stderr).toBe(5);
    expect(again.stdout).toContain('imported 0 tasks with 0 runs');
    for (const id of ['done-once', 'ticking', 'held', 'busy']) expect(again.stderr).toMatch(new RegExp(`refused line \\d+ \\(task ${id}\\): a task with id "${id}" already exists`));

    const skipping = await postgres.cli(['import', '--skip-existing', exportFile], { timeoutMs: 30_000 });
    expect(skipping.code, skipping.stderr).toBe(0);
    expect(skipping.stdout).toContain('skipped 4 tasks that exist already: done-once, ticking, held, busy');

    const missing = await postgres.cli(['import', join(e2e.tempDir(), 'missing.ndjson')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*missing\.ndjson: ENOENT/);
  });

  test('export writes to stdout and import reads stdin; an export cut off is told from a whole one', async () => {
    const target = await e2e.startDaemon();
    const printed = await sqlite.cli(['export'], { timeoutMs: 30_000 });
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stderr).toMatch(/^exported 4 tasks with \d+ runs\n$/);
    const lines = printed.stdout.trimEnd().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'scheduler-export', formatVersion: 1 });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ end: true, tasks: 4 });

    // The header and two tasks, without the end line: what a failed copy leaves.
    const cut = join(e2e.tempDir(), 'cut.ndjson');
    writeFileSync(cut, `${lines.slice(0, 3).join('\n')}\n`);
    const imported = await importFromStdin(target, cut);
    expect(imported.code, imported.stderr).toBe(2);
    expect(imported.stdout).toContain('imported 2 tasks');
    expect(imported.stderr).toContain('it was cut off');
  });
});

/** `scheduler import` on `daemon` with `file` as its stdin. */
async function importFromStdin(daemon: DaemonProcess, file: string): Promise<CliResult> {
  const input = openSync(file, 'r');
  try {
    const child = spawn(process.execPath, [cliPath, '--server', daemon.url, 'import'], { env: childEnv(), stdio: [input, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code, signal] = (await withDeadline(once(child, 'close'), 30_000, 'scheduler import from stdin')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    closeSync(input);
  }
}
