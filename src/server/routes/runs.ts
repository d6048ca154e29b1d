/**
 * The run history: of every task (without output), of one task, one run, and a run's output
 * read from an offset.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SchedulerError } from '../../core/errors.js';
import { readOutputWindow } from '../../core/output-window.js';
import { parseInstant } from '../../core/zoned-time.js';
import type { CapturedOutput, OutputStream, RunOutcome } from '../../core/task.js';
import { AllRunsPageJson, AllRunsQuery, OutputJson, OutputQuery, RunJson, RunPageJson, RunParams, RunsQuery, TaskIdParams } from '../../protocol/schemas.js';
import { Ref } from '../../protocol/schemas.js';
import { runJson, runSummaryJson } from '../../protocol/task-json.js';
import type { TaskOperations } from '../ports.js';
import { answer, commonErrors, errorResponses } from './responses.js';

const errors = errorResponses(...commonErrors, 404);

/** The run routes, over the engine's reads of runs. */
export function runRoutes(app: FastifyInstance, engine: Pick<TaskOperations, 'listAllRuns' | 'listRuns' | 'getRun' | 'liveOutput'>): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/api/runs', {
    schema: {
      operationId: 'listAllRuns',
      summary: 'The runs of every task, newest fire first, a page at a time, without their output; by outcome and fire time',
      querystring: AllRunsQuery,
      response: { 200: answer('A page of runs, newest fire (scheduledAt) first', AllRunsPageJson), ...errorResponses(...commonErrors) },
    },
  }, async (request) => {
    const { limit = 100, cursor, outcome } = request.query;
    const since = request.query.since === undefined ? undefined : parseInstant(request.query.since, 'since');
    const until = request.query.until === undefined ? undefined : parseInstant(request.query.until, 'until');
    if (since !== undefined && until !== undefined && since > until) {
      throw new SchedulerError('invalid_request', `since: ${request.query.since} is after until (${request.query.until}); give the earlier time as since`);
    }
    // The schema allows only the outcome names.
    const page = await engine.listAllRuns({
      limit,
      ...(cursor === undefined ? {} : { cursor }),
      ...(outcome === undefined ? {} : { outcome: outcome as RunOutcome }),
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
    });
    return { runs: page.runs.map(runSummaryJson), nextCursor: page.nextCursor };
  });

  api.get('/api/tasks/:id/runs', {
    schema: {
      operationId: 'listRuns',
      summary: "A task's run history, newest first, a page at a time",
      params: TaskIdParams,
      querystring: RunsQuery,
      response: { 200: answer('A page of runs, newest first', RunPageJson), ...errors },
    },
  }, async (request) => {
    const { limit = 50, cursor, outcome } = request.query;
    // The schema allows only the outcome names.
    const page = await engine.listRuns({ id: request.params.id, limit, cursor, outcome: outcome as RunOutcome | undefined });
    return { runs: page.runs.map(runJson), nextCursor: page.nextCursor };
  });

  api.get('/api/tasks/:id/runs/:run', {
    schema: { operationId: 'getRun', summary: 'One run of a task, with its output', params: RunParams, response: { 200: answer('The run', Ref(RunJson)), ...errors } },
  }, async (request) => runJson(await engine.getRun(request.params.id, request.params.run)));

  api.get('/api/tasks/:id/runs/:run/output', {
    schema: {
      operationId: 'getRunOutput',
      summary: "One stream of a run's output from a byte offset, a window at a time (also while the run is executing)",
      params: RunParams,
      querystring: OutputQuery,
      response: { 200: answer('A window of the stream', OutputJson), ...errors },
    },
  }, async (request) => {
    const { id, run } = request.params;
    const { offset = 0, limit = 1024 * 1024 } = request.query;
    // The schema allows only the two stream names.
    const stream = (request.query.stream ?? 'stdout') as OutputStream;
    const live = engine.liveOutput(id, run);
    if (live?.run === run) return outputJson(run, stream, live[stream], false, offset, limit);
    const recorded = await engine.getRun(id, run);
    return outputJson(run, stream, recorded[stream], recorded.outcome !== 'running', offset, limit);
  });
}

function outputJson(run: number, stream: OutputStream, output: CapturedOutput, complete: boolean, offset: number, limit: number): OutputJson {
  const { totalBytes, droppedBytes, droppedAt } = output;
  return { run, stream, totalBytes, droppedBytes, droppedAt, complete, ...readOutputWindow(output, offset, limit) };
}
