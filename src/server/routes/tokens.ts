/**
 * /api/tokens: make a token with a role (shown once; the daemon keeps its SHA-256), list the
 * tokens the daemon knows, revoke a made one. Admins only (roles.ts).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { CreatedTokenJson, CreateTokenBody, TokenListJson } from '../../protocol/schemas.js';
import type { TokenRegistry } from '../token-registry.js';
import { answer, commonErrors, emptyAnswer, errorResponses } from './responses.js';
import { isoTime } from '../../protocol/iso-time.js';

export function tokenRoutes(app: FastifyInstance, registry: TokenRegistry): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.post('/api/tokens', {
    schema: {
      operationId: 'createToken',
      summary: 'Make a token with a role; the answer shows it this once, the daemon keeps only its SHA-256',
      body: CreateTokenBody,
      response: { 201: answer('The token made', CreatedTokenJson), ...errorResponses(...commonErrors, 409) },
    },
  }, async (request, reply) => {
    const { name, role } = request.body;
    const { token, createdAt } = await registry.create(name, role);
    return reply.code(201).send({ name, role, createdAt: isoTime(createdAt), token });
  });

  api.get('/api/tokens', {
    schema: {
      operationId: 'listTokens',
      summary: "The tokens the daemon knows: the daemon's own, the config file's and the made ones, with their roles (never their values)",
      response: { 200: answer('Every token', TokenListJson), ...errorResponses(...commonErrors) },
    },
  }, async () => ({ tokens: registry.list().map((token) => ({ ...token, createdAt: token.createdAt === null ? null : isoTime(token.createdAt) })) }));

  api.delete('/api/tokens/:name', {
    schema: {
      operationId: 'revokeToken',
      summary: 'Revoke a made token (on other daemons sharing the store, within 5 s)',
      params: Type.Object({ name: Type.String() }),
      response: { 204: emptyAnswer('Revoked'), ...errorResponses(...commonErrors, 404, 409) },
    },
  }, async (request, reply) => {
    await registry.revoke(request.params.name);
    return reply.code(204).send();
  });
}
