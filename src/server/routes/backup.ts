/**
 * POST /api/backup: a consistent copy of the database, written by the daemon while it runs
 * (SQLite's online backup: writes go on meanwhile). The path is on the daemon's host. The
 * route needs the token like every other: a client that may submit scripts, which run as
 * the daemon's user, gains nothing it did not have.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { BackupWriter } from '../ports.js';
import { answer, commonErrors, errorResponses } from './responses.js';

const BackupBody = Type.Object({
  path: Type.String({ minLength: 1, description: "an absolute path on the daemon's host; its directory must exist" }),
  overwrite: Type.Optional(Type.Boolean({ description: 'replace a file already there (refused with 409 otherwise)' })),
}, { additionalProperties: false });

const BackupJson = Type.Object({
  path: Type.String(),
  bytes: Type.Integer({ description: 'the size of the copy' }),
}, { description: 'Where the copy was written, and its size' });

/** POST /api/backup, written by `store`. */
export function backupRoutes(app: FastifyInstance, store: BackupWriter): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.post('/api/backup', {
    schema: {
      operationId: 'backupStore',
      summary: "Write a consistent copy of the database to a file on the daemon's host, while the daemon runs",
      body: BackupBody,
      response: { 201: answer('The copy is written', BackupJson), ...errorResponses(...commonErrors, 409, 415) },
    },
  }, async (request, reply) => {
    const { path, overwrite = false } = request.body;
    const { bytes } = await store.backup({ path, overwrite });
    return reply.code(201).send({ path, bytes });
  });
}
