/**
 * The changes of tasks made anywhere in a cluster of nodes sharing a store (PostgreSQL): each
 * committed change of a task, or its deletion, numbered by the store. A node learns through it what the other nodes changed, so that its long polls
 * and event streams see those changes too. A store one daemon alone uses (SQLite) has none:
 * that daemon's engine reports every change itself.
 */
import type { Run } from '../core/task.js';

/** One change of a task, as the store recorded it. */
export interface ClusterChange {
  /** The store's number for the change: it grows across the whole cluster. */
  id: number;
  taskId: string;
  kind: 'changed' | 'deleted';
  /** The task's version after the change (before it, for a deletion). */
  version: number;
}

/** A source of the cluster's changes. */
export interface ClusterChanges {
  /**
   * Delivers, from now on, every change recorded after the start to `deliver`, in batches in
   * order of id; each change once. Resolves once the source listens. `report` hears of
   * failures (a lost connection, a failed read) while the source recovers from them.
   */
  start(deliver: (changes: readonly ClusterChange[]) => void, report?: (error: unknown, message: string) => void): Promise<void>;
  /** Stops listening; resolves once the connection is closed. */
  close(): Promise<void>;
}

/** A run as recorded, with the home of the node that executes (or executed) it; null when none. */
export interface RunWithOwner {
  run: Run;
  ownerHome: string | null;
}

/** Reads runs with their owner, so that a node tells its own runs from the others'. */
export interface RunOwners {
  getRunWithOwner(taskId: string, run: number): Promise<RunWithOwner | undefined>;
}
