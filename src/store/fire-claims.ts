/**
 * Claiming due fires, for stores shared by several nodes (PostgreSQL). One transaction locks
 * the due tasks no other node holds (`FOR UPDATE SKIP LOCKED`, due times compared with the
 * database's clock), fires each through the engine's pure transition, and writes every fire
 * (the task's next state with its next fire time, and its run records) before it commits:
 * a fire is claimed, recorded and its schedule advanced at once, by one node. The unique key
 * on (task, scheduled time, attempt) of the runs refuses a second record of the same fire
 * even if this logic were wrong.
 */
import type { Task } from '../core/task.js';
import type { SaveTaskParams } from './task-store.js';

/** One fire written by a claim. */
export interface ClaimedFire {
  /** The task as it was claimed. */
  previous: Task;
  /** What was written: its new state, and its run records. */
  saved: SaveTaskParams;
}

/** Parameters of FireClaims.claimDue. */
export interface ClaimParams {
  /** The most tasks claimed in this transaction. */
  limit: number;
  /**
   * The queues whose runs at once are bounded over the whole cluster, with their bound. A
   * claim that may start runs in one of them counts that queue's runs executing on every node,
   * holding the queue (a transaction lock) until it commits, so that two nodes claiming at
   * once never both take its last slot.
   */
  queueLimits?: Readonly<Record<string, number>>;
  /**
   * What firing `task` at `now` (the database's clock) writes, decided inside the claim's
   * transaction; undefined to leave the task unfired (no room for its run on this node or in
   * its queue: another node, or a later claim, fires it). `queues` takes a slot of a bounded
   * queue, if one is free.
   */
  fire(task: Task, now: number, queues: QueueSlots): SaveTaskParams | undefined;
}

/** The slots of the bounded queues, over the cluster, during one claim. */
export interface QueueSlots {
  /** Takes a slot of `queue` for a run to start: false when the queue is full cluster-wide (true for an unbounded queue). */
  take(queue: string): boolean;
}

/** What a claim found and wrote. */
export interface ClaimOutcome {
  /** How many due tasks it locked (all of them were due; `fires` are those it fired). */
  due: number;
  fires: ClaimedFire[];
}

/** Claims and fires due tasks in one transaction. */
export interface FireClaims {
  /** Claims and fires up to `limit` due tasks; resolves with what was written, once committed. */
  claimDue(params: ClaimParams): Promise<ClaimOutcome>;
}
