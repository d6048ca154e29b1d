/**
 * Which daemons ("nodes") serve the store, as `GET /api/nodes` and `scheduler nodes` show
 * them. Each node registers itself when it starts, beats every few seconds with the runs it
 * executes, and says when it stops cleanly. On PostgreSQL the record is a row every node
 * reads; on SQLite, which one daemon owns, the node knows only itself.
 */
import type { NodeIdentity, NodeRecord, NodeState } from '../core/node.js';

export type { NodeRecord, NodeState } from '../core/node.js';

/** This node's place among the nodes sharing the store. */
export interface NodeRegistry {
  /** Records this node as started and alive; call once, before the others. */
  register(identity: NodeIdentity): Promise<void>;
  /** Records that this node is alive and executes `runsExecuting` runs; prunes long-gone nodes. */
  heartbeat(runsExecuting: number): Promise<void>;
  /** Every node known, this one included: alive ones first, then by start, newest first. */
  list(): Promise<NodeRecord[]>;
  /** Records that this node shut down cleanly; it beats no more. */
  stopped(): Promise<void>;
  /** This node's id and state as it knows it, without asking the store (for /healthz). */
  self(): { id: string; state: NodeState };
}

/** How many missed heartbeats make a node stale: one late beat on a loaded host is not death. */
export const staleAfterHeartbeats = 3;

/** How long a node that stopped, or went stale, stays listed before a heartbeat prunes it. */
export const nodeRetentionMs = 60 * 60 * 1000;

/** The state of a node from its last heartbeat, as seen at `now` (both on the same clock). */
export function nodeState(params: { heartbeatAt: number; heartbeatIntervalMs: number; stoppedAt: number | null; now: number }): NodeState {
  if (params.stoppedAt !== null) return 'stopped';
  return params.now - params.heartbeatAt <= staleAfterHeartbeats * params.heartbeatIntervalMs ? 'alive' : 'stale';
}

/** The order of list(): alive nodes first, then stale, then stopped; newest start first within each. */
export function byStateThenStart(a: NodeRecord, b: NodeRecord): number {
  const rank = { alive: 0, stale: 1, stopped: 2 } as const;
  return rank[a.state] - rank[b.state] || b.startedAt - a.startedAt || a.id.localeCompare(b.id);
}
