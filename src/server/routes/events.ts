/** GET /api/tasks/{id}/events: the live event stream of a task (Server-Sent Events); see EventHub. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EventJson } from '../../protocol/event-schemas.js';
import { EventsQuery, Ref, TaskIdParams } from '../../protocol/schemas.js';
import type { EventHub } from '../events/event-hub.js';
import type { TaskOperations } from '../ports.js';
import { commonErrors, emptyAnswer, errorResponses } from './responses.js';

/** The header a reconnecting Server-Sent Events client sends by itself. */
const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ description: 'resume after this event id (the `id` of the last event received)' })),
});

/** The stream, as the OpenAPI document shows it: a sequence of Event messages. */
const eventStream = {
  description: 'The stream: a snapshot first (unless resuming), then the events as they happen, until the task is deleted or the client leaves',
  content: { 'text/event-stream': { schema: Ref(EventJson) } },
};

/** The event stream route: the hub serves it, reading the task and its live output through the engine. */
export function eventRoutes(app: FastifyInstance, engine: Pick<TaskOperations, 'getTask' | 'liveOutput'>, hub: EventHub): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/api/tasks/:id/events', {
    schema: {
      operationId: 'streamTaskEvents',
      summary: 'Live events of a task, as Server-Sent Events',
      description:
        'Events by name: snapshot, status, run-started, run-skipped, run-finished, output, pruned, deleted (see the Event schema). ' +
        'Reconnect with Last-Event-ID (or ?lastEventId=) to resume; 204 when the task is final and nothing is left to send.',
      params: TaskIdParams,
      querystring: EventsQuery,
      headers: EventsHeaders,
      response: { 200: eventStream, 204: emptyAnswer('The task is final and nothing is left to send'), ...errorResponses(...commonErrors, 404) },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const header = request.headers['last-event-id'];
    const lastEventId = (Array.isArray(header) ? header[0] : header) ?? request.query.lastEventId;
    const result = await hub.open({
      taskId: id,
      lastEventId,
      response: reply.raw,
      load: () => engine.getTask(id),
      liveOutput: (run) => engine.liveOutput(id, run),
      takeOver: () => reply.hijack(),
    });
    if (result === 'nothing-more') return reply.code(204).send(null);
    return reply;
  });
}
