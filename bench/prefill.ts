/**
 * Pending tasks written straight into a data directory's database before its daemon starts,
 * with the store's own code (SqliteTaskStore.insertTask, as the daemon's submit path calls
 * it, and the same task a submit makes: parseSubmission, status ToBeExecuted). Much faster
 * than a million HTTP submits; what the daemon then holds in memory is what it reads at
 * start, not what a million submits left behind (the figures say so).
 */
import { join } from 'node:path';
import { newTask, parseSubmission } from '../src/core/submission.js';
import type { Run, RunOutcome } from '../src/core/task.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-store.js';

/** Tasks inserted per group commit (one transaction). */
const batchSize = 10_000;

/** Writes `count` delay tasks due in 1,000 hours, ids `pending-0`, `pending-1`, ... */
export async function prefillPending(dataDir: string, count: number): Promise<void> {
  const store = new SqliteTaskStore({ path: join(dataDir, 'scheduler.db') });
  try {
    const now = Date.now();
    const definition = parseSubmission({ id: 'pending-0', type: 'delay', time: '1000h', script: 'echo never' }, { maxScriptBytes: 1 << 20 }, now, 'UTC');
    const template = newTask(definition, now);
    for (let first = 0; first < count; first += batchSize) {
      const ids = Array.from({ length: Math.min(batchSize, count - first) }, (_, index) => `pending-${first + index}`);
      // Inserted in the same turn of the event loop: one group commit.
      await Promise.all(ids.map((id) => store.insertTask({ ...template, id })));
    }
  } finally {
    await store.close();
  }
}

/** When the first fire of the histories was: 2026-01-01T00:00:00Z. */
export const historyStart = Date.parse('2026-01-01T00:00:00Z');

/**
 * Writes `tasks` stopped cron tasks, ids `history-0`, `history-1`, ..., each with
 * `runsPerTask` finished runs, as `scheduler import` stores them (SqliteTaskStore.importTask,
 * one transaction per task). Run k of task i serves the fire at historyStart + ((k - 1) *
 * tasks + i) seconds, so the tasks' histories interleave in time; 1 run in 20 failed, 1 in
 * 97 was skipped, and the last run of one task in 10,000 was killed (a rare outcome).
 */
export async function prefillHistory(dataDir: string, tasks: number, runsPerTask: number): Promise<void> {
  const store = new SqliteTaskStore({ path: join(dataDir, 'scheduler.db') });
  try {
    const definition = parseSubmission({ id: 'history-0', type: 'cron', time: '1h', script: 'backup --quiet' }, { maxScriptBytes: 1 << 20 }, historyStart, 'UTC');
    const template = { ...newTask(definition, historyStart), state: { status: 'Stopped' as const }, lastRun: runsPerTask, version: 2 * runsPerTask + 2 };
    for (let index = 0; index < tasks; index++) {
      const runs: Run[] = [];
      for (let run = 1; run <= runsPerTask; run++) {
        const scheduledAt = historyStart + ((run - 1) * tasks + index) * 1000;
        const outcome: RunOutcome =
          index % 10_000 === 0 && run === runsPerTask ? 'killed' : (index + run) % 20 === 0 ? 'failed' : (index + run) % 97 === 0 ? 'skipped' : 'succeeded';
        const stdout = outcome === 'skipped' ? '' : `backed up ${index * 7 + run} files\n`;
        runs.push({
          run,
          scheduledAt,
          attempt: 1,
          startedAt: outcome === 'skipped' ? null : scheduledAt + 2,
          finishedAt: scheduledAt + 900,
          outcome,
          exitCode: outcome === 'succeeded' ? 0 : outcome === 'failed' ? 1 : null,
          signal: outcome === 'killed' ? 'SIGTERM' : null,
          error: outcome === 'skipped' ? 'the previous run was still executing' : null,
          stdout: { text: stdout, totalBytes: Buffer.byteLength(stdout), droppedBytes: 0, droppedAt: 0 },
          stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
          outputCap: 1 << 20,
        });
      }
      await store.importTask({ ...template, id: `history-${index}` }, runs);
    }
  } finally {
    await store.close();
  }
}
