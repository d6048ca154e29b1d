/**
 * Run ownership, for stores shared by several nodes (PostgreSQL). A run belongs to the node
 * that started it, for as long as its lease holds: the node renews the lease while the run
 * executes, and writes the output so far with each renewal. Every write about the run (its
 * start after waiting, its output, its end) checks that the run is still the node's; once a
 * lease has expired on the database's clock, any other node may take the run over and record
 * it interrupted (a takeover, see RunChange's `finish`), after which the late writes of the
 * first node are refused with `lease_lost`. A store that one daemon alone uses (SQLite) has
 * none of this: every run in it is that daemon's.
 */
import type { CapturedOutput, Run } from '../core/task.js';

/** A run of a task. */
export interface RunKey {
  taskId: string;
  run: number;
}

/** A run this node executes, with the output it has written so far. */
export interface LiveRun extends RunKey {
  stdout: CapturedOutput;
  stderr: CapturedOutput;
}

/** A run whose owner let its lease expire: what a takeover needs to check and record. */
export interface ExpiredRun extends RunKey {
  /** The run as recorded, with the output its owner wrote so far. */
  record: Run;
  /** The node that owned it, and its home: the takeover is refused if the run changed hands since. */
  ownerNode: string | null;
  ownerHome: string;
  fence: number;
  /** When the lease expired, in epoch milliseconds (database clock). */
  leaseExpiredAt: number;
}

/** The ownership of runs in a store that several nodes share. */
export interface RunLeases {
  /**
   * Renews the leases of the runs given (which this node executes) and records their output
   * so far, in one write. Answers the runs among them that are no longer this node's (taken
   * over, or deleted with their task): their processes must end.
   */
  renew(runs: readonly LiveRun[]): Promise<RunKey[]>;
  /**
   * Runs recorded in progress whose lease expired before the database's now, oldest expiry
   * first: other nodes' runs, and this node's too (one whose record committed while the answer
   * was lost, so that it never started here; or one whose renewals failed, which a renewal
   * extends again as long as nobody took it over).
   */
  listExpired(limit: number): Promise<ExpiredRun[]>;
  /**
   * True when the run is recorded as this node's, or as an earlier life's of it (a daemon
   * restarted on the same data directory): the runs recovery may record interrupted at start.
   */
  isOwn(key: RunKey): Promise<boolean>;
}

/** A kill asked on one node for a run another node executes. */
export interface KillRequest extends RunKey {
  reason: string;
  /** The node that asked. */
  requestedBy: string;
}

/** A run another node executes, and that node. */
export interface RemoteRun extends RunKey {
  /** The id of the node executing it (null if unknown). */
  node: string | null;
}

/**
 * Requests between nodes about runs (a kill asked on a node that does not execute the run).
 * The asking node writes them; the owner takes its own every second and acts on them.
 */
export interface RunRequests {
  /**
   * Asks the nodes executing the runs in progress of `taskId` (only run `run`, when given) to
   * end them; runs of this node are left out (it ends them itself). Answers the runs asked for.
   */
  requestKill(params: { taskId: string; run?: number; reason: string }): Promise<RemoteRun[]>;
  /** Takes (and removes) the requests for this node's runs. */
  takeRequests(): Promise<KillRequest[]>;
}
