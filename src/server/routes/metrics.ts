/**
 * GET /metrics: the daemon's Prometheus metrics, in the text exposition format. Behind the
 * token like every route but /healthz (Prometheus sends it with `authorization` and a
 * `credentials_file`; docs/operations.md).
 */
import type { FastifyInstance } from 'fastify';
import type { MetricsSource } from '../ports.js';
import { commonErrors, errorResponses } from './responses.js';

export function metricsRoutes(app: FastifyInstance, metrics: MetricsSource): void {
  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics',
      summary: "The daemon's metrics, in Prometheus' text format (docs/operations.md lists them)",
      response: {
        200: { description: 'Every metric, one sample a line', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...errorResponses(...commonErrors),
      },
    },
  }, async (_request, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
