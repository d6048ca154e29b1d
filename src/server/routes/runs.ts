/** The run history of a task: its runs a page at a time, one run, and a run's output read from an offset. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { readOutputWindow } from '../../core/output-window.js';
import type { CapturedOutput, OutputStream, RunOutcome } from '../../core/task.js';
import { OutputJson, OutputQuery, RunJson, RunPageJson, RunParams, RunsQuery, TaskIdParams } from '../../protocol/schemas.js';
import { Ref } from '../../protocol/schemas.js';
import { runJson } from '../../protocol/task-json.js';
import type { TaskOperations } from '../ports.js';
import { answer, commonErrors, errorResponses } from './responses.js';

const errors = errorResponses(...commonErrors, 404);

/** The run routes, over the engine's reads of runs. */
export function runRoutes(app: FastifyInstance, engine: Pick<TaskOperations, 'listRuns' | 'getRun' | 'liveOutput'>): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

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
