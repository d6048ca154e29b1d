/**
 * Concurrency limits as scheduling policy: whether a run may start now, and which waiting
 * runs start, in which order, when slots free up. Pure: counts and limits come in, a
 * decision goes out, so the same rule serves one daemon counting in memory and, later, a
 * database claim counting rows.
 *
 * Every run belongs to the queue its execution settings name (`default` when they are
 * absent). It may start only when fewer than `maxRuns` runs execute in all and, if its
 * queue has a limit, fewer than that limit of its queue. A queue that is not configured (a
 * task submitted when it was, run by a daemon whose configuration no longer has it) is not
 * refused: it has no limit of its own, and only the global maximum applies.
 *
 * Waiting runs start in the order they arrived, except that a run held back only by its own
 * queue's limit does not hold back later runs of queues that have room: the waiting runs are
 * scanned in arrival order and every one that fits is started. Hence, once the decision is
 * carried out, no waiting run fits, and a new run that fits may start at once without
 * passing anyone who could have run.
 */
import { defaultQueue } from './execution.js';

/** How many runs may execute at once. */
export interface SlotLimits {
  /** Over every queue; at least 1 (Infinity: unbounded). */
  readonly maxRuns: number;
  /** The configured queues, each with its own maximum of runs at once (at least 1). */
  readonly queues: Readonly<Record<string, number>>;
}

/** How many slots are taken: in all, and per queue (a queue absent has none). */
export interface SlotCounts {
  readonly total: number;
  readonly byQueue: ReadonlyMap<string, number>;
}

/** No bound at all: every run starts at once. */
export const unboundedSlots: SlotLimits = Object.freeze({ maxRuns: Number.POSITIVE_INFINITY, queues: Object.freeze({}) });

/** Why `limits` cannot be used (a maximum below 1 or not whole); undefined when they can. */
export function slotLimitsProblem(limits: SlotLimits): string | undefined {
  const { maxRuns, queues } = limits;
  if (maxRuns !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxRuns) || maxRuns < 1)) {
    return `the maximum of runs at once must be a whole number of at least 1 (it is ${maxRuns})`;
  }
  for (const [name, limit] of Object.entries(queues)) {
    if (!Number.isInteger(limit) || limit < 1) return `the limit of queue "${name}" must be a whole number of at least 1 (it is ${limit})`;
  }
  return undefined;
}

/** The queue whose slots a run of a task with these execution settings takes. */
export function queueOf(execution: { readonly queue: string } | undefined): string {
  return execution?.queue ?? defaultQueue;
}

/** The queue's own limit; undefined when it has none (it is not configured). */
export function queueLimit(limits: SlotLimits, queue: string): number | undefined {
  // Own properties only: a queue named "constructor" is not configured by Object.prototype.
  return Object.hasOwn(limits.queues, queue) ? limits.queues[queue] : undefined;
}

/** Whether a run of `queue` may start now, with `taken` slots taken. */
export function mayStart(queue: string, taken: SlotCounts, limits: SlotLimits): boolean {
  if (taken.total >= limits.maxRuns) return false;
  const limit = queueLimit(limits, queue);
  return limit === undefined || (taken.byQueue.get(queue) ?? 0) < limit;
}

/**
 * Which of the waiting runs (their queues, in the order they arrived) start now, with
 * `taken` slots taken: their indexes, in the order they start. Each one chosen takes its
 * slot before the next is looked at.
 */
export function runsToStart(waiting: readonly string[], taken: SlotCounts, limits: SlotLimits): number[] {
  const chosen: number[] = [];
  let total = taken.total;
  const byQueue = new Map(taken.byQueue);
  for (let index = 0; index < waiting.length && total < limits.maxRuns; index++) {
    const queue = waiting[index]!;
    if (!mayStart(queue, { total, byQueue }, limits)) continue;
    chosen.push(index);
    total++;
    byQueue.set(queue, (byQueue.get(queue) ?? 0) + 1);
  }
  return chosen;
}

/** How full the slots are, for the daemon's status. */
export interface ConcurrencySnapshot {
  maxRuns: number;
  /** Runs holding a slot (executing, or about to). */
  running: number;
  /** Runs waiting for a free slot. */
  waiting: number;
  /** `default` first, then every configured queue by name, then any unconfigured queue with runs. */
  queues: QueueSnapshot[];
}

/** How full one queue is. */
export interface QueueSnapshot {
  name: string;
  /** Its own maximum; null: only the global maximum applies. */
  limit: number | null;
  running: number;
  waiting: number;
}

/** The snapshot of slots with `taken` taken and runs of the `waiting` queues waiting. */
export function describeSlots(limits: SlotLimits, taken: SlotCounts, waiting: readonly string[]): ConcurrencySnapshot {
  const configured = new Set<string>([defaultQueue, ...Object.keys(limits.queues).sort()]);
  const waitingIn = new Map<string, number>();
  for (const queue of waiting) waitingIn.set(queue, (waitingIn.get(queue) ?? 0) + 1);
  // Unconfigured queues that have runs show up too, after the configured ones.
  const others = [...new Set([...taken.byQueue.keys(), ...waitingIn.keys()])].filter((name) => !configured.has(name)).sort();
  return {
    maxRuns: limits.maxRuns,
    running: taken.total,
    waiting: waiting.length,
    queues: [...configured, ...others].map((name) => ({
      name,
      limit: queueLimit(limits, name) ?? null,
      running: taken.byQueue.get(name) ?? 0,
      waiting: waitingIn.get(name) ?? 0,
    })),
  };
}
