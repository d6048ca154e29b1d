/** The task routes of the spec (list, submit, get and watch, stop, delete), and kill. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { SchedulerError } from '../../core/errors.js';
import { parseDuration } from '../../core/duration.js';
import { upcomingFires } from '../../core/schedule.js';
import { dueAt, type Run, type Task, type TaskStatus } from '../../core/task.js';
import { taskJson, taskSummaryJson } from '../../protocol/task-json.js';
import {
  DryRunJson,
  GetQuery,
  NextJson,
  NextQuery,
  ListQuery,
  StopResponse,
  SubmitBody,
  SubmitQuery,
  TaskIdParams,
  TaskJson,
  TaskPageJson,
  Ref,
} from '../../protocol/schemas.js';
import { clientHasVersion, IfMatchHeaders, IfNoneMatchHeaders, versionsIfMatch, withEtag } from '../conditional.js';
import type { ChangeSubscriptions, TaskOperations } from '../ports.js';
import type { KeptTask, TaskJsonCache } from '../task-json-cache.js';
import { TaskWatcher } from '../watch.js';
import { answer, commonErrors, emptyAnswer, errorResponses } from './responses.js';
import { isoTime } from '../../protocol/iso-time.js';

/** What the task routes need. */
export interface TaskRoutesDeps {
  engine: TaskOperations;
  feed: ChangeSubscriptions;
  /** Serialised tasks kept by version; absent when the store cannot tell every change (see SoleWriter). */
  cache?: TaskJsonCache;
}

/** The errors of a route on one task: those of every route, and no such task. */
const taskErrors = errorResponses(...commonErrors, 404);
/** ...and a status that does not allow what was asked. */
const changeErrors = errorResponses(...commonErrors, 404, 409, 412);
const taskAnswer = (description: string) => answer(description, Ref(TaskJson));
const defaultWatchMs = 30_000;
const maxWatchMs = 5 * 60_000;

/** The task routes, over the engine's operations and the change feed (long polls). */
export function taskRoutes(app: FastifyInstance, deps: TaskRoutesDeps): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { engine, cache } = deps;
  const watcher = new TaskWatcher(engine, deps.feed);

  api.get('/api/tasks', {
    schema: {
      operationId: 'listTasks',
      summary: 'List tasks, a page at a time',
      querystring: ListQuery,
      response: { 200: answer('A page of tasks, without their results', TaskPageJson), ...errorResponses(...commonErrors) },
    },
  }, async (request) => {
    const { limit = 100, cursor, status, prefix, recent = 0 } = request.query;
    // The schema allows only the status names.
    const page = await engine.list({ limit, cursor, status: status as TaskStatus | undefined, ...(prefix === undefined ? {} : { prefix }) });
    const tasks = page.tasks.map(taskSummaryJson);
    if (recent > 0 && tasks.length > 0) {
      // One read for the whole page; a task with no runs gets an empty list, so that the field is there whenever it was asked for.
      const outcomes = await engine.recentOutcomes(page.tasks.map((task) => task.id), recent);
      for (const task of tasks) task.recentOutcomes = outcomes.get(task.id) ?? [];
    }
    return { tasks, nextCursor: page.nextCursor };
  });

  api.post('/api/tasks', {
    schema: {
      operationId: 'submitTask',
      summary: 'Submit a task; with dryRun=true, check it and answer when it would fire, without storing it',
      body: SubmitBody,
      querystring: SubmitQuery,
      response: {
        201: { ...taskAnswer('Submitted: the task as stored; Location names it'), headers: { location: { type: 'string', description: 'the path of the new task' } } },
        200: answer('A dry run: the task as it would be, and its next fire times; nothing is stored', DryRunJson),
        ...errorResponses(...commonErrors, 409, 413),
      },
    },
  }, async (request, reply) => {
    const { dryRun, next = 5 } = request.query;
    // The schema's default fills in `next`: whether the client sent it is in the URL only.
    if (!dryRun && sentInQuery(request, 'next')) {
      throw new SchedulerError('invalid_request', 'next: only with dryRun=true (how many fire times a dry run lists); drop it, or add dryRun=true');
    }
    if (dryRun) {
      const task = engine.dryRun(request.body);
      // As the real submit would; a check, not a reservation: the id may be taken before the submit.
      if (await taskExists(engine, task.id)) {
        throw new SchedulerError('already_exists', `a task with id "${task.id}" already exists; choose another id, or delete that task first`);
      }
      return Object.assign(taskJson(task, []), { nextRuns: upcomingFires(task.schedule, dueAt(task.state), next).map(isoTime) });
    }
    const task = await engine.submit(request.body);
    reply.code(201).header('location', `/api/tasks/${encodeURIComponent(task.id)}`);
    withEtag(reply, task.version);
    return taskJson(task, []);
  });

  api.get('/api/tasks/:id', {
    schema: {
      operationId: 'getTask',
      summary: 'Get a task with its results; with watch=true&version=N, wait until its version differs from N',
      params: TaskIdParams,
      querystring: GetQuery,
      headers: IfNoneMatchHeaders,
      response: { 200: taskAnswer('The task with its retained results (after a long poll: as it is when it changed, or when the wait ended)'), 304: emptyAnswer('Not modified: the task is still at the version If-None-Match named'), ...taskErrors },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const { watch, version, timeout } = request.query;
    if (!watch) {
      const lone = (['version', 'timeout'] as const).filter((name) => request.query[name] !== undefined);
      if (lone.length > 0) {
        throw new SchedulerError('invalid_request', `${lone.join(' and ')}: only with watch=true (the long poll); drop ${lone.length > 1 ? 'them' : 'it'}, or add watch=true`);
      }
      if (cache) return cachedTaskReply(request, reply, id, engine, cache);
      const { task, runs } = await engine.get(id);
      return taskReply(request, reply, task, runs);
    }
    if (version === undefined) {
      throw new SchedulerError('invalid_request', 'version: is required with watch=true (pass the version you have; 0 answers at once)');
    }
    const waitMs = timeout === undefined ? defaultWatchMs : parseDuration(timeout, 'timeout');
    if (waitMs > maxWatchMs) {
      throw new SchedulerError('invalid_request', `timeout: at most 5m, got "${timeout}"`);
    }
    const { task, runs } = await watcher.watch({ id, version, waitMs, reply });
    return taskReply(request, reply, task, runs);
  });

  api.get('/api/tasks/:id/next', {
    schema: {
      operationId: 'getNextFires',
      summary: 'When the task will fire next, if nothing stops it',
      params: TaskIdParams,
      querystring: NextQuery,
      response: { 200: answer('Its next fire times', NextJson), ...taskErrors },
    },
  }, async (request) => {
    const task = await engine.getTask(request.params.id);
    return { id: task.id, status: task.state.status, nextRuns: upcomingFires(task.schedule, dueAt(task.state), request.query.n ?? 5).map(isoTime) };
  });

  api.post('/api/tasks/:id/kill', {
    schema: {
      operationId: 'killRun',
      summary: "End the task's run in progress (its whole process group); the schedule goes on",
      params: TaskIdParams,
      headers: IfMatchHeaders,
      response: { 200: taskAnswer('The task, its run ended'), ...changeErrors },
    },
  }, async (request, reply) => {
    const { task, runs } = await engine.kill(request.params.id, versionsIfMatch(request));
    withEtag(reply, task.version);
    return taskJson(task, runs);
  });

  for (const [action, operationId, summary, call] of [
    ['pause', 'pauseTask', 'Pause a recurring task: no fire until resumed (a run executing goes on)', (id: string, versions?: number[]) => engine.pause(id, versions)],
    ['resume', 'resumeTask', 'Resume a paused task: the next fire is computed from now; missed fires run once', (id: string, versions?: number[]) => engine.resume(id, versions)],
    ['run', 'runTaskNow', 'Start a run now, besides the schedule (skipped, with a warning, while a run executes)', (id: string, versions?: number[]) => engine.runNow(id, versions)],
  ] as const) {
    api.post(`/api/tasks/:id/${action}`, {
      schema: { operationId, summary, params: TaskIdParams, headers: IfMatchHeaders, response: { 200: answer('The task; `warning` says what did not happen as asked', StopResponse), ...changeErrors } },
    }, async (request, reply) => {
      const { task, runs, warning } = await call(request.params.id, versionsIfMatch(request));
      withEtag(reply, task.version);
      return warning === null ? taskJson(task, runs) : Object.assign(taskJson(task, runs), { warning });
    });
  }

  api.put('/api/tasks/:id', {
    schema: {
      operationId: 'stopTask',
      summary: 'Stop a task',
      params: TaskIdParams,
      headers: IfMatchHeaders,
      response: { 200: answer('The task, stopped (or stopping: `warning` says its run goes on)', StopResponse), ...changeErrors },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const { task, runs, warning } = await engine.stop(id, versionsIfMatch(request));
    withEtag(reply, task.version);
    return warning === null ? taskJson(task, runs) : Object.assign(taskJson(task, runs), { warning });
  });

  api.delete('/api/tasks/:id', {
    schema: {
      operationId: 'deleteTask',
      summary: 'Stop and delete a task with its results',
      params: TaskIdParams,
      headers: IfMatchHeaders,
      response: { 204: emptyAnswer('Deleted'), ...errorResponses(...commonErrors, 404, 412) },
    },
  }, async (request, reply) => {
    await engine.delete(request.params.id, versionsIfMatch(request));
    return reply.code(204).send(null);
  });
}


/** Whether the client put `name` in the query string itself (the schema's defaults fill in others). */
function sentInQuery(request: FastifyRequest, name: string): boolean {
  const query = request.url.indexOf('?');
  return query >= 0 && new URLSearchParams(request.url.slice(query + 1)).has(name);
}

/** The task as an answer with its ETag, or 304 with no body when If-None-Match says the client has this version. */
function taskReply(request: FastifyRequest, reply: FastifyReply, task: Task, runs: Run[]): TaskJson | FastifyReply {
  withEtag(reply, task.version);
  if (clientHasVersion(request, task.version)) return reply.code(304).send();
  return taskJson(task, runs);
}

/** The content type of every JSON answer, as Fastify sets it for an object. */
const jsonType = 'application/json; charset=utf-8';

/**
 * taskReply through the cache (task-json-cache.ts): a task kept as the store has it now is
 * sent as the bytes kept, after no read of the database when nothing was written since, or
 * one row read (its version) otherwise. Else the task is read and serialised with the route's
 * own response schema, so the bytes are the same either way, and kept if they depend on the
 * store alone.
 */
async function cachedTaskReply(
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  engine: Pick<TaskOperations, 'get' | 'taskVersion'>,
  cache: TaskJsonCache,
): Promise<FastifyReply> {
  const unchanged = cache.unchanged(id);
  if (unchanged !== undefined) return sendKept(request, reply, unchanged);
  // Taken before reading: what is read is at least as new as the mark.
  const mark = cache.mark();
  const version = await engine.taskVersion(id);
  const kept = version === undefined ? undefined : cache.atVersion(id, version, mark);
  if (kept !== undefined) return sendKept(request, reply, kept);
  const { task, runs } = await engine.get(id);
  withEtag(reply, task.version);
  if (clientHasVersion(request, task.version)) return reply.code(304).send();
  const body = Buffer.from(reply.serializeInput(taskJson(task, runs), '200', 'application/json') as string);
  if (dependsOnStoreAlone(task, runs)) cache.put(id, task.version, body, mark);
  return reply.type(jsonType).send(body);
}

/** The kept answer, or 304 when If-None-Match names its version. */
function sendKept(request: FastifyRequest, reply: FastifyReply, kept: KeptTask): FastifyReply {
  withEtag(reply, kept.version);
  if (clientHasVersion(request, kept.version)) return reply.code(304).send();
  return reply.type(jsonType).send(kept.body);
}

/**
 * Whether the answer for this task is the same for as long as its version is: not while a
 * run executes, whose output so far (and an end the store has not taken yet) the engine
 * adds from memory, changing the answer without changing the version.
 */
function dependsOnStoreAlone(task: Task, runs: readonly Run[]): boolean {
  return task.state.status !== 'Executing' && runs.every((run) => run.outcome !== 'running');
}

/** Whether a task with `id` is stored; failures of the store other than not_found are thrown. */
async function taskExists(engine: Pick<TaskOperations, 'getTask'>, id: string): Promise<boolean> {
  try {
    await engine.getTask(id);
    return true;
  } catch (error) {
    if (error instanceof SchedulerError && error.code === 'not_found') return false;
    throw error;
  }
}
