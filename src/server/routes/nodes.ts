/**
 * GET /api/nodes: the daemons sharing the store, as the store records them (on SQLite, the
 * daemon alone). Any node answers for all: each reads the same table.
 */
import type { FastifyInstance } from 'fastify';
import { NodeListJson, type NodeJson } from '../../protocol/schemas.js';
import type { NodeDirectory, NodeView } from '../ports.js';
import { answer, commonErrors, errorResponses } from './responses.js';
import { isoTime } from '../../protocol/iso-time.js';

/** GET /api/nodes, from `nodes`. */
export function nodeRoutes(app: FastifyInstance, nodes: NodeDirectory): void {
  app.get('/api/nodes', {
    schema: {
      operationId: 'listNodes',
      summary: 'The daemons (nodes) sharing the store: id, host, version, start, last heartbeat, runs executing, state',
      response: { 200: answer('Every node the store knows, this one marked `self`', NodeListJson), ...errorResponses(...commonErrors) },
    },
  }, async () => ({ nodes: (await nodes.list()).map(nodeJson) }));
}

function nodeJson(node: NodeView): NodeJson {
  return {
    id: node.id,
    host: node.host,
    pid: node.pid,
    version: node.version,
    startedAt: isoTime(node.startedAt),
    heartbeatAt: isoTime(node.heartbeatAt),
    runsExecuting: node.runsExecuting,
    state: node.state,
    stoppedAt: node.stoppedAt === null ? null : isoTime(node.stoppedAt),
    self: node.self,
  };
}
