/**
 * The lines of GET /api/export (see protocol/export-format.ts), produced a page of tasks at a
 * time: at most one page of tasks and one task's runs are in memory, whatever the store holds.
 * Each task is read with its runs as one snapshot; a task deleted between the page and that
 * read is left out. A run in progress is exported as it is now (its output so far).
 */
import { exportFormatName, exportFormatVersion, type ExportEnd, type ExportHeader } from '../../protocol/export-format.js';
import type { TaskOperations } from '../ports.js';
import { SchedulerError } from '../../core/errors.js';

/** Tasks read per page. */
const pageSize = 100;

export async function* exportLines(engine: Pick<TaskOperations, 'list' | 'get'>, header: { schedulerVersion: string; exportedAt: number }): AsyncGenerator<string> {
  const head: ExportHeader = {
    format: exportFormatName,
    formatVersion: exportFormatVersion,
    schedulerVersion: header.schedulerVersion,
    exportedAt: new Date(header.exportedAt).toISOString(),
  };
  yield `${JSON.stringify(head)}\n`;
  const end: ExportEnd = { end: true, tasks: 0, runs: 0 };
  let cursor: string | undefined;
  do {
    const page = await engine.list({ limit: pageSize, cursor });
    for (const listed of page.tasks) {
      const found = await readOrGone(engine, listed.id);
      if (!found) continue;
      end.tasks++;
      end.runs += found.runs.length;
      yield `${JSON.stringify({ task: found.task, runs: found.runs })}\n`;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  yield `${JSON.stringify(end)}\n`;
}

async function readOrGone(engine: Pick<TaskOperations, 'get'>, id: string) {
  try {
    return await engine.get(id);
  } catch (error) {
    if (error instanceof SchedulerError && error.code === 'not_found') return undefined;
    throw error;
  }
}
