/**
 * GET /api/export and POST /api/import: every task with its runs, as NDJSON (see
 * protocol/export-format.ts), to move a daemon's tasks to another store (SQLite to
 * PostgreSQL). Both stream: the export is written a page of tasks at a time, the import
 * read and stored a line (a task) at a time, so neither holds the whole export in memory.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Clock } from '../../core/clock.js';
import { SchedulerError } from '../../core/errors.js';
import { ImportQuery, ImportSummaryJson, ndjsonMediaType } from '../../protocol/export-format.js';
import type { TaskOperations } from '../ports.js';
import { exportLines } from '../transfer/export-lines.js';
import { importLines, type ConflictRule } from '../transfer/import-lines.js';
import { ndjsonLines } from '../transfer/ndjson-lines.js';
import { answer, commonErrors, errorResponses } from './responses.js';

/**
 * The longest line (one task with all its runs and their output) an import accepts. A task
 * keeps at most --keep-runs runs of at most twice --output-cap of output (100 and 1 MiB by
 * default: 200 MiB at worst); held as one string while it is parsed.
 */
export const maxImportLineBytes = 256 * 1024 * 1024;

const exportStream = {
  description:
    'NDJSON: a header line {format, formatVersion, schedulerVersion, exportedAt}, one line per task {task, runs} ' +
    '(the task as stored, times in epoch milliseconds; its retained runs with their output), then {end: true, tasks, runs}. ' +
    'An export cut off by a failure has no end line.',
  content: { [ndjsonMediaType]: { schema: Type.String() } },
};

/** What the transfer routes need. */
export interface TransferRoutesDeps {
  engine: TaskOperations;
  version: string;
  clock: Pick<Clock, 'now'>;
}

export function transferRoutes(app: FastifyInstance, deps: TransferRoutesDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { engine } = deps;

  api.get('/api/export', {
    schema: {
      operationId: 'exportTasks',
      summary: 'Every task with its retained runs (history and output), as NDJSON, to import into another daemon',
      response: { 200: exportStream, ...errorResponses(...commonErrors) },
    },
  }, async (_request, reply) => {
    const lines = exportLines(engine, { schedulerVersion: deps.version, exportedAt: deps.clock.now() });
    // A stream is sent as it is, whatever the schema says of the body.
    return reply.type(ndjsonMediaType).send(Readable.from(lines) as unknown as string);
  });

  // In a context of its own, so that NDJSON is taken by this route alone: the body reaches it
  // as the request stream, read line by line, never whole (no body limit; see maxImportLineBytes).
  void app.register(async (scope) => {
    scope.addContentTypeParser(ndjsonMediaType, (_request, payload, done) => done(null, payload));
    const scoped = scope.withTypeProvider<TypeBoxTypeProvider>();
    scoped.post('/api/import', {
      schema: {
        operationId: 'importTasks',
        summary: 'Import the tasks of an export (GET /api/export) with their state and runs; answers what was imported, skipped and refused',
        description:
          `Body: the export, as ${ndjsonMediaType}. Each task is imported whole or not at all; a task whose id exists already is refused ` +
          '(listed in `refused`) unless onConflict=skip. A run in progress at the export is imported as interrupted. ' +
          `A line may be up to ${maxImportLineBytes / (1024 * 1024)} MiB.`,
        consumes: [ndjsonMediaType],
        querystring: ImportQuery,
        // The request stream itself (see the parser above); its lines are checked one by one.
        body: Type.Unknown({ description: 'the NDJSON lines of an export' }),
        response: { 200: answer('The import is done: what was imported, skipped and refused', ImportSummaryJson), ...errorResponses(...commonErrors, 413, 415) },
      },
    }, async (request) => {
      // A JSON body was parsed by the JSON parser, so it is not the stream an export arrives as.
      if (!(request.body instanceof Readable)) {
        throw new SchedulerError('unsupported_media_type', `send the export as ${ndjsonMediaType} (the output of GET /api/export, as it is)`);
      }
      const body = request.body;
      const onConflict = (request.query.onConflict ?? 'refuse') as ConflictRule;
      try {
        return await importLines(engine, ndjsonLines(body, maxImportLineBytes), onConflict);
      } finally {
        // What was not read (the import stopped early) is drained, so that the answer reaches the client.
        body.resume();
      }
    });
  });
}
