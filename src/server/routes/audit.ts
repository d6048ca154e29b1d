/** GET /api/audit: the audit log, newest first, a page at a time (admins only). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AuditPageJson } from '../../protocol/schemas.js';
import type { AuditReader } from '../ports.js';
import { answer, commonErrors, errorResponses } from './responses.js';

const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'the previous page\'s nextBefore' })),
  },
  { additionalProperties: false },
);

export function auditRoutes(app: FastifyInstance, audit: AuditReader): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get('/api/audit', {
    schema: {
      operationId: 'listAudit',
      summary: 'The audit log: every change asked of the daemon (who, what, which task, when, from where, the answer), newest first',
      querystring: AuditQuery,
      response: { 200: answer('A page of entries', AuditPageJson), ...errorResponses(...commonErrors) },
    },
  }, async (request) => {
    const limit = request.query.limit ?? 100;
    const rows = await audit.listAudit({ limit: limit + 1, ...(request.query.before === undefined ? {} : { before: request.query.before }) });
    const page = rows.slice(0, limit);
    return {
      entries: page.map((row) => ({ ...row, at: new Date(row.at).toISOString() })),
      nextBefore: rows.length > limit ? page.at(-1)!.id : null,
    };
  });
}
