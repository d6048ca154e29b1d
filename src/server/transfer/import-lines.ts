/**
 * POST /api/import's work: reads an export line by line (see protocol/export-format.ts) and
 * imports each task with its runs as it comes. A task that cannot be imported (its id is
 * taken, its line is damaged) is reported with its line and the import goes on: a task is
 * imported whole or not at all, and the answer lists what was not. A body that is not an
 * export (no header, another format version) is refused before anything is imported.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { SchedulerError } from '../../core/errors.js';
import type { Run, Task } from '../../core/task.js';
import {
  ExportEnd,
  ExportHeader,
  ExportedTaskLine,
  exportFormatName,
  exportFormatVersion,
  maxListedInSummary,
  type ImportSummaryJson,
} from '../../protocol/export-format.js';
import type { TaskOperations } from '../ports.js';
import type { NdjsonLine } from './ndjson-lines.js';

/** The validators of the three kinds of line, compiled at the first import rather than at every start of the daemon. */
let validators: { header: ValidateFunction; taskLine: ValidateFunction; end: ValidateFunction } | undefined;
function validatorsOfLines() {
  if (validators) return validators;
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  return (validators = { header: ajv.compile(ExportHeader), taskLine: ajv.compile(ExportedTaskLine), end: ajv.compile(ExportEnd) });
}

/** What to do with a task whose id exists already. */
export type ConflictRule = 'refuse' | 'skip';

export async function importLines(
  engine: Pick<TaskOperations, 'importTask'>,
  lines: AsyncIterable<NdjsonLine>,
  onConflict: ConflictRule,
): Promise<ImportSummaryJson> {
  const summary: ImportSummaryJson = { tasks: 0, runs: 0, interrupted: 0, skippedCount: 0, skipped: [], refusedCount: 0, refused: [], complete: false };
  const refuse = (line: number, id: string | null, error: SchedulerError) => {
    if (summary.refusedCount++ < maxListedInSummary) summary.refused.push({ line, id, code: error.code, message: error.message });
  };
  const skip = (id: string) => {
    if (summary.skippedCount++ < maxListedInSummary) summary.skipped.push(id);
  };
  let sawHeader = false;
  try {
    for await (const { number, text } of lines) {
      if (!sawHeader) {
        checkHeader(number, parseLine(number, text));
        sawHeader = true;
        continue;
      }
      let id: string | null = null;
      try {
        if (summary.complete) throw new SchedulerError('invalid_request', `line ${number}: nothing may follow the end line of an export`);
        const value = parseLine(number, text);
        if (isEndLine(value)) {
          const validEnd = validatorsOfLines().end;
          if (!validEnd(value)) throw new SchedulerError('invalid_request', `line ${number}: ${problem(validEnd, 'the end line')}`);
          summary.complete = true;
          continue;
        }
        id = idOf(value);
        const { task, runs } = taskLine(number, value);
        const { interrupted } = await engine.importTask(task, runs);
        summary.tasks++;
        summary.runs += runs.length;
        summary.interrupted += interrupted;
      } catch (error) {
        // A failure of the store ends the import (the answer is an error); one task's problem does not.
        if (!(error instanceof SchedulerError) || isStoreFailure(error)) throw error;
        if (error.code === 'already_exists' && onConflict === 'skip' && id !== null) skip(id);
        else refuse(number, id, error);
      }
    }
  } catch (error) {
    // What was imported stays imported: an answer that says so beats an error that hides it.
    if (!(error instanceof SchedulerError) || !sawHeader || isStoreFailure(error)) throw error;
    refuse(refusedLine(error), null, error);
    return summary;
  }
  if (!sawHeader) throw new SchedulerError('invalid_request', 'the body is empty: send the output of GET /api/export (scheduler export)');
  return summary;
}

function parseLine(number: number, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SchedulerError('invalid_request', `line ${number} is not JSON (${(error as Error).message}); is this the output of scheduler export?`);
  }
}

function checkHeader(number: number, value: unknown): void {
  const format = (value as { format?: unknown } | null)?.format;
  if (format !== exportFormatName) {
    throw new SchedulerError('invalid_request', `line ${number} is not the header of an export (it has no "format": "${exportFormatName}"); import the output of scheduler export`);
  }
  const validHeader = validatorsOfLines().header;
  if (!validHeader(value)) throw new SchedulerError('invalid_request', `line ${number}: ${problem(validHeader, 'the header')}`);
  const version = (value as ExportHeader).formatVersion;
  if (version !== exportFormatVersion) {
    throw new SchedulerError(
      'invalid_request',
      `the export is in format version ${version}, this daemon reads version ${exportFormatVersion}: import it with a scheduler of the version that wrote it (${(value as ExportHeader).schedulerVersion}) or newer`,
    );
  }
}

function isEndLine(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'end' in value;
}

function idOf(value: unknown): string | null {
  const id = (value as { task?: { id?: unknown } } | null)?.task?.id;
  return typeof id === 'string' ? id : null;
}

/** The task and runs of a task line, checked beyond their shape: the state has what its status needs, the runs fit lastRun. */
function taskLine(number: number, value: unknown): { task: Task; runs: Run[] } {
  const validTaskLine = validatorsOfLines().taskLine;
  if (!validTaskLine(value)) throw new SchedulerError('invalid_request', `line ${number}: ${problem(validTaskLine, 'the task')}`);
  // The schema checked the shape; the stored form's details are the store's (rows.ts).
  const { task, runs } = value as unknown as { task: Task; runs: Run[] };
  const state = task.state as Partial<Record<string, unknown>>;
  const needsNext = task.state.status === 'ToBeExecuted' || task.state.status === 'WaitForNextExecution';
  if (needsNext && !Number.isInteger(state.nextRunAt)) {
    throw new SchedulerError('invalid_request', `line ${number}: task "${task.id}" is ${task.state.status} without a nextRunAt`);
  }
  if (task.state.status === 'Executing' && !Number.isInteger(state.run)) {
    throw new SchedulerError('invalid_request', `line ${number}: task "${task.id}" is Executing without its run`);
  }
  const nul = nulIn(task, '/task') ?? runs.map((run, index) => nulIn({ ...run, stdout: undefined, stderr: undefined, error: undefined }, `/runs/${index}`)).find(Boolean);
  if (nul !== undefined) {
    throw new SchedulerError('invalid_request', `line ${number}: task "${task.id}" has a NUL character at ${nul}, which no export holds (a submit refuses it: a shell and an environment cannot hold one); mend or drop the line`);
  }
  const numbers = new Set<number>();
  for (const run of runs) {
    if (run.run > task.lastRun || numbers.has(run.run)) {
      throw new SchedulerError('invalid_request', `line ${number}: task "${task.id}" has run ${run.run} twice, or beyond its lastRun (${task.lastRun})`);
    }
    numbers.add(run.run);
  }
  // The node that executed a run belongs to the exporting daemon's store, not to this one.
  return { task, runs: runs.map(({ node: _node, ...run }) => run).sort((a, b) => a.run - b.run) };
}

/**
 * Where in `value` a string holds NUL (its JSON pointer), if anywhere. A run's output and
 * error are left out: a script may write NUL, and every store keeps it there.
 */
function nulIn(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\0')) return `${path}/${key}`;
    const found = nulIn(item, `${path}/${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function problem(validate: ValidateFunction, what: string): string {
  const error = validate.errors?.[0];
  if (!error) return `${what} is not valid`;
  return `${what}${error.instancePath ? ` at ${error.instancePath}` : ''} ${error.message ?? 'is not valid'}`;
}

function isStoreFailure(error: SchedulerError): boolean {
  return error.code === 'store_unavailable' || error.code === 'store_corrupt';
}

/** The line an error that ended the import names ("line N ..."), or 0. */
function refusedLine(error: SchedulerError): number {
  return Number(/^line (\d+)/.exec(error.message)?.[1] ?? 0);
}
