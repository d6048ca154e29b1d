/** GET /api/tasks/{id}/events: the live event stream of a task (Server-Sent Events); see EventHub. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Engine } from '../../engine/engine.js';
import { EventsQuery, TaskIdParams } from '../../protocol/schemas.js';
import type { EventHub } from '../events/event-hub.js';
import { errors } from './tasks.js';

export function eventRoutes(app: FastifyInstance, engine: Engine, hub: EventHub): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();

  api.get('/api/tasks/:id/events', {
    schema: {
      summary:
        'Live events of a task as Server-Sent Events: snapshot, status, run-started, run-skipped, run-finished, output, pruned, deleted. ' +
        'Reconnect with Last-Event-ID to resume; 204 when the task is final and nothing is left to send.',
      params: TaskIdParams,
      querystring: EventsQuery,
      response: { 204: { type: 'null', description: 'nothing more will happen to the task' }, ...errors },
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
