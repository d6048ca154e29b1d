/**
 * The export format of GET /api/export and POST /api/import (`scheduler export` and
 * `scheduler import`): NDJSON, one JSON object per line, UTF-8.
 *
 *   1. a header: {"format":"scheduler-export","formatVersion":1,"schedulerVersion":"…","exportedAt":"…"}
 *   2. one line per task: {"task":{…},"runs":[…]}, the task as stored (definition, state,
 *      version, lastRun) and its retained runs, oldest first, with their output;
 *   3. an end line: {"end":true,"tasks":N,"runs":M}, so that a cut-off export is told from
 *      a whole one.
 *
 * Unlike the rest of the API, a task line holds the stored form itself (times in epoch
 * milliseconds, the computed schedule, the state with what it knows beyond its status):
 * it is meant to be read back by a daemon, not by people, and must lose nothing.
 */
import { Type, type Static } from 'typebox';
import { resourceLimitNames } from '../core/execution.js';
import { taskIdPattern } from '../core/submission.js';
import { runOutcomes, taskStatuses, taskTypes } from '../core/task.js';

/** What the header's `format` says. */
export const exportFormatName = 'scheduler-export';
/** The version of the format this daemon writes and reads. */
export const exportFormatVersion = 1;
/** The media type of an export. */
export const ndjsonMediaType = 'application/x-ndjson';

export const ExportHeader = Type.Object({
  format: Type.Literal(exportFormatName),
  formatVersion: Type.Integer({ minimum: 1 }),
  schedulerVersion: Type.String(),
  exportedAt: Type.String({ format: 'date-time' }),
});
export type ExportHeader = Static<typeof ExportHeader>;

const Ms = Type.Integer({ description: 'milliseconds since the Unix epoch' });
const NullableMs = Type.Union([Ms, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
/** A structured field of the stored task (schedule, policy, execution, state): an object with at least `key`. */
const Stored = (key: string, values: readonly string[]) =>
  Type.Object({ [key]: Type.String({ enum: [...values] }) }, { additionalProperties: true });

const ExportedOutput = Type.Object({
  text: Type.String(),
  totalBytes: Type.Integer({ minimum: 0 }),
  droppedBytes: Type.Integer({ minimum: 0 }),
  droppedAt: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });

export const ExportedRun = Type.Object({
  run: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
  scheduledAt: Ms,
  attempt: Type.Integer({ minimum: 1 }),
  startedAt: NullableMs,
  finishedAt: NullableMs,
  outcome: Type.String({ enum: [...runOutcomes] }),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  signal: NullableString,
  error: NullableString,
  stdout: ExportedOutput,
  stderr: ExportedOutput,
  outputCap: Type.Integer({ minimum: 0 }),
  limit: Type.Optional(Type.String({ enum: [...resourceLimitNames] })),
  waitedMs: Type.Optional(Type.Integer({ minimum: 0 })),
  waiting: Type.Optional(Type.Literal(true)),
  node: Type.Optional(Type.String()),
}, { additionalProperties: false });

export const ExportedTask = Type.Object({
  id: Type.String({ pattern: taskIdPattern }),
  type: Type.String({ enum: [...taskTypes] }),
  time: Type.String(),
  schedule: Stored('kind', ['once', 'interval', 'calendar']),
  timezone: Type.String(),
  script: Type.String(),
  lang: Type.String(),
  runTimeout: Type.Optional(Type.Object({ text: Type.String(), ms: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })),
  policy: Type.Object({}, { additionalProperties: true }),
  execution: Type.Object({}, { additionalProperties: true }),
  createdAt: Ms,
  state: Stored('status', taskStatuses),
  lastStatusUpdated: Ms,
  version: Type.Integer({ minimum: 1 }),
  lastRun: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
}, { additionalProperties: false });

/** One task line. */
export const ExportedTaskLine = Type.Object({
  task: ExportedTask,
  runs: Type.Array(ExportedRun),
}, { additionalProperties: false });

/** The last line of a whole export. */
export const ExportEnd = Type.Object({
  end: Type.Literal(true),
  tasks: Type.Integer({ minimum: 0 }),
  runs: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });
export type ExportEnd = Static<typeof ExportEnd>;

/** What to do with a task whose id the importing daemon has already. */
export const conflictRules = ['refuse', 'skip'] as const;

export const ImportQuery = Type.Object({
  onConflict: Type.Optional(Type.String({
    enum: [...conflictRules],
    default: 'refuse',
    description: 'a task whose id exists already: refuse (reported in `refused`, the default) or skip (reported in `skipped`)',
  })),
}, { additionalProperties: false });

/** How many skipped ids and refused lines the answer lists (the counts go on): an import of a million tasks all there already must not answer a list of a million. */
export const maxListedInSummary = 1000;

/** The answer of POST /api/import. */
export const ImportSummaryJson = Type.Object({
  tasks: Type.Integer({ description: 'tasks imported' }),
  runs: Type.Integer({ description: 'runs imported with them' }),
  interrupted: Type.Integer({ description: 'runs that were in progress at the export, imported as interrupted' }),
  skippedCount: Type.Integer({ description: 'tasks not imported because they exist already (onConflict=skip)' }),
  skipped: Type.Array(Type.String(), { description: 'their ids, the first 1000' }),
  refusedCount: Type.Integer({ description: 'lines not imported' }),
  refused: Type.Array(Type.Object({
    line: Type.Integer({ description: 'the line of the body, from 1' }),
    id: Type.Union([Type.String(), Type.Null()], { description: 'the task id, when the line has one' }),
    code: Type.String(),
    message: Type.String(),
  }), { description: 'the first 1000 of them, and why' }),
  complete: Type.Boolean({ description: 'whether the body ended with the end line of an export: false when it was cut off' }),
}, { description: 'What was imported, skipped and refused' });
export type ImportSummaryJson = Static<typeof ImportSummaryJson>;
