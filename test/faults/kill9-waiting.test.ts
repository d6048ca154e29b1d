/**
 * kill -9 while runs wait for a free slot. A daemon with `--max-runs 2` gets 20 delay tasks
 * due at once; each script appends its task id to a shared file, prints a line, and holds
 * at a gate. With two runs holding the two slots and eighteen waiting, the daemon is killed
 * with SIGKILL and started again on the same data directory; then the gate opens.
 *
 * Invariant (nothing acknowledged is lost): every submitted task is there after the restart,
 * and its one due execution happened exactly once: each id is in the file exactly once. The
 * two runs that had started are `interrupted` (a delay task's interrupted run does not run
 * again), ended when the daemon last knew them alive (not at the restart), with the output
 * they had printed; the eighteen that never started ran once after the restart, `succeeded`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ok } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { ms, type RunView, type TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();

type WaitingRunView = RunView & { waiting: boolean; waitedMs: number | null };
const onlyRun = (task: TaskView) => task.results[0] as WaitingRunView | undefined;

const ids = Array.from({ length: 20 }, (_, index) => `due-${String(index + 1).padStart(2, '0')}`);

/** The ids in the shared file, one per line, in the order the runs started. */
function linesOf(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line.length > 0);
  } catch {
    return [];
  }
}

/** Every task, read through the API; fails if one is missing. */
async function allTasks(daemon: DaemonProcess): Promise<TaskView[]> {
  const tasks = await Promise.all(ids.map((id) => daemon.task(id)));
  return tasks.map((task, index) => {
    if (!task) throw new Error(`task ${ids[index]} is gone`);
    return task;
  });
}

describe('kill -9 with runs waiting for a free slot', () => {
  test('every due execution happens exactly once after the restart; the runs that had started are interrupted', async () => {
    const scratch = e2e.tempDir();
    const lines = join(scratch, 'lines');
    writeFileSync(lines, '');
    const release = gate(scratch, 'release', 120_000);
    const daemon = await e2e.startDaemon({ args: ['--max-runs', '2'] });

    // Each acknowledged by the CLI's exit 0, and due at once; a few CLIs at a time, so that a
    // loaded machine does not time them out. The first two runs take the two slots and hold
    // them at the gate, so every later one waits, whenever it came due.
    const script = `echo "$SCHEDULER_TASK_ID" >> '${lines}'; echo "started $SCHEDULER_TASK_ID"; ${release.wait}`;
    for (let index = 0; index < ids.length; index += 4) {
      await Promise.all(
        ids.slice(index, index + 4).map(async (id) => ok(await daemon.cli(['submit', id, '-type=delay', '-time=0s', '--script', script], { timeoutMs: 60_000 }), `submit ${id}`)),
      );
    }

    // Two runs hold the two slots; the eighteen others wait, recorded so.
    const before = await waitFor(
      'two runs started and eighteen waiting',
      async () => {
        const tasks = await allTasks(daemon);
        const waiting = tasks.filter((task) => onlyRun(task)?.waiting === true);
        return linesOf(lines).length === 2 && waiting.length === 18 && tasks.every((task) => task.status === 'Executing') ? tasks : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, describe: () => linesOf(lines) },
    );
    const startedBefore = linesOf(lines);
    expect(new Set(startedBefore).size).toBe(2);
    for (const task of before) {
      const run = onlyRun(task)!;
      if (startedBefore.includes(task.id)) expect(run).toMatchObject({ outcome: 'running', waiting: false });
      else expect(run).toMatchObject({ outcome: 'running', waiting: true, startedAt: null });
    }
    // The two that started have printed their line (the daemon holds it in memory and its spool).
    await waitFor('the started runs to have printed', async () => {
      const runs = await Promise.all(startedBefore.map((id) => daemon.task(id)));
      return runs.every((task, index) => task?.results[0]?.stdoutBytes === `started ${startedBefore[index]}\n`.length) || undefined;
    });

    await daemon.kill();
    // Whatever the killed daemon recorded, it recorded before this moment.
    const killedAt = Date.now();
    // Nothing ran while the daemon was down (the two orphaned scripts hold at the gate).
    expect(linesOf(lines)).toEqual(startedBefore);

    const restartedAt = Date.now();
    const restarted = await e2e.restart(daemon);
    release.open();
    const after = await waitFor(
      'every task to be Executed',
      async () => {
        const tasks = await allTasks(restarted);
        return tasks.every((task) => task.status === 'Executed') ? tasks : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, describe: () => linesOf(lines) },
    );

    // Exactly once each: the file has every id, once.
    const ran = linesOf(lines);
    expect([...ran].sort()).toEqual(ids);
    expect(ran.slice(0, 2)).toEqual(startedBefore);

    for (const task of after) {
      // Nothing acknowledged is lost: the task is there, with the one result of its one fire.
      expect(task.results, `the results of ${task.id}`).toHaveLength(1);
      const run = onlyRun(task)!;
      if (startedBefore.includes(task.id)) {
        expect(run, task.id).toMatchObject({ outcome: 'interrupted', waiting: false, stdout: `started ${task.id}\n` });
        // Ended when last known alive: after its start, before the restart.
        expect(ms(run.finishedAt)).toBeGreaterThanOrEqual(ms(run.startedAt));
        expect(ms(run.finishedAt)).toBeLessThanOrEqual(killedAt);
        expect(ms(run.finishedAt)).toBeLessThan(restartedAt + 1);
      } else {
        expect(run, task.id).toMatchObject({ outcome: 'succeeded', waiting: false, exitCode: 0, stdout: `started ${task.id}\n` });
        expect(ms(run.startedAt)).toBeGreaterThanOrEqual(restartedAt);
        expect(run.waitedMs).not.toBeNull();
      }
    }
    const status = (await restarted.api('GET', '/api/status')) as { runsWaiting: number; runsInProgress: number };
    expect(status).toMatchObject({ runsWaiting: 0, runsInProgress: 0 });
  }, 240_000);
});
