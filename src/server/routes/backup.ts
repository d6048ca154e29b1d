/** POST /api/backup: an online backup of the store to a file on the daemon's host (`scheduler backup`). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { TaskStore } from '../../store/task-store.js';

const BackupBody = Type.Object(
  {
    path: Type.String({ minLength: 1, description: "An absolute path on the daemon's host; the file must not exist unless `force`" }),
    force: Type.Optional(Type.Boolean({ default: false, description: 'Replace a file already there' })),
  },
  { additionalProperties: false },
);

const BackupJson = Type.Object({
  path: Type.String(),
  bytes: Type.Integer({ description: 'Size of the copy' }),
});

export function backupRoutes(app: FastifyInstance, store: TaskStore): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post('/api/backup', {
    schema: {
      summary: "Writes a consistent copy of the store to a file on the daemon's host while it keeps serving",
      operationId: 'backupStore',
      body: BackupBody,
      response: { 200: BackupJson },
    },
  }, async (request) => {
    const { path, force = false } = request.body;
    const { bytes } = await store.backup({ path, overwrite: force });
    return { path, bytes };
  });
}
