/**
 * A node: one `scheduler daemon` process. On PostgreSQL several nodes share the store; each
 * run belongs to the node executing it, named by the node's id. The id is new at every
 * start of the process (never just the host name, which two nodes on one host share, nor a
 * name reused by a restarted process), so that what a node's previous life owned can never be
 * taken for what it owns now.
 */

/** Who a node is, fixed for its life. */
export interface NodeIdentity {
  /** `host-pid-random`, unique per start of a daemon process. */
  id: string;
  host: string;
  pid: number;
  /** The scheduler version it runs. */
  version: string;
  /** When it started, in epoch milliseconds. */
  startedAt: number;
}

/**
 * alive: its last heartbeat is within the staleness bound; stale: it is not (the node died,
 * is paused, or cannot reach the store); stopped: it shut down cleanly.
 */
export type NodeState = 'alive' | 'stale' | 'stopped';

/** A node as the registry knows it. Times are epoch milliseconds. */
export interface NodeRecord {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  /** When its last heartbeat was recorded (by the database's clock on PostgreSQL). */
  heartbeatAt: number;
  /** Runs it executed at its last heartbeat. */
  runsExecuting: number;
  state: NodeState;
  /** When it shut down cleanly; null while it runs or after it died. */
  stoppedAt: number | null;
  /** True for the node answering (the one whose registry this is). */
  self: boolean;
}

/** The identity of a node starting now; `random` gives the id's last part (8 hex digits). */
export function newNodeIdentity(params: { host: string; pid: number; version: string; startedAt: number; random: string }): NodeIdentity {
  const { host, pid, version, startedAt, random } = params;
  return { id: `${host}-${pid}-${random}`, host, pid, version, startedAt };
}
