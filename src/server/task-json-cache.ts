/**
 * The serialised answers of GET /api/tasks/{id}, kept so that reading a task that has not
 * changed costs no read transaction and no serialisation. An entry is the exact bytes of the
 * answer for one version of one task, and answers only while the store still has the task
 * at that version:
 *
 * - while the store's write count has not moved since the entry was last known current,
 *   nothing was written at all: the entry answers with no read of the database;
 * - otherwise the task's version is read (one row) and the entry answers if it is still at
 *   it; every versioned write (submit, stop, pause, a run's start and end...) thus makes the
 *   entries of older versions unreachable by itself;
 * - the changes that leave the version as it is (a delete, output dropped to keep the
 *   bound) remove the entry through `invalidate`, called by the store within the write.
 *
 * This relies on the store being written by this process alone (SoleWriter in ports.ts).
 * Bounded by entries and by bytes, entries not used lately first out: its memory does not grow
 * with the number of tasks, and a task with megabytes of output is not kept.
 */

/** The bounds of a TaskJsonCache. */
export interface TaskJsonCacheLimits {
  /** Tasks kept at most. */
  maxEntries: number;
  /** Bytes of answers kept at most, all entries together. */
  maxBytes: number;
  /** An answer larger than this is not kept (it would push out many small ones). */
  maxEntryBytes: number;
}

/** A few thousand tasks of ordinary size; 16 MiB at most. */
export const defaultTaskJsonCacheLimits: TaskJsonCacheLimits = { maxEntries: 4096, maxBytes: 16 * 1024 * 1024, maxEntryBytes: 256 * 1024 };

/** A kept answer: the task's version (its ETag) and the bytes of its JSON. */
export interface KeptTask {
  readonly version: number;
  readonly body: Buffer;
}

/** Where the cache stands, taken before a read of the store; see mark(). */
export interface CacheMark {
  /** The store's write count. */
  readonly writes: number;
  /** The cache's count of invalidations. */
  readonly invalidations: number;
}

interface Entry extends KeptTask {
  /** The write count at which the entry was last known to be the task as stored. */
  currentAt: number;
  /** Used since it was last passed over for eviction: it gets a second chance. */
  used: boolean;
}

/**
 * A bounded cache of serialised tasks, keyed by task id and version; evicts the least
 * recently used, nearly (second chance: a hit only flags the entry, which costs less than
 * moving it on every read).
 */
export class TaskJsonCache {
  /** In the order of insertion or of the last second chance, oldest first (a Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private bytesKept = 0;
  private invalidations = 0;

  /** `writeCount`: the store's count of rows written (SoleWriter.writeCount). */
  constructor(
    private readonly writeCount: () => number,
    private readonly limits: TaskJsonCacheLimits = defaultTaskJsonCacheLimits,
  ) {}

  /**
   * Where things stand, to take before reading the store for `atVersion` or `put`: what is
   * read after it is at least as new as the mark.
   */
  mark(): CacheMark {
    return { writes: this.writeCount(), invalidations: this.invalidations };
  }

  /** The answer kept for task `id` if nothing at all was written since it was known current. */
  unchanged(id: string): KeptTask | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.currentAt !== this.writeCount()) return undefined;
    entry.used = true;
    return entry;
  }

  /**
   * The answer kept for task `id` at `version`, the version the store has: read after `mark`
   * was taken. The entry is then known current as of the mark.
   */
  atVersion(id: string, version: number, mark: CacheMark): KeptTask | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.version !== version) return undefined;
    if (mark.writes > entry.currentAt) entry.currentAt = mark.writes;
    entry.used = true;
    return entry;
  }

  /**
   * Keeps `body` as the answer for task `id` at `version`, read after `mark` was taken;
   * dropped when an invalidation came since (what was read may be what it invalidated).
   */
  put(id: string, version: number, body: Buffer, mark: CacheMark): void {
    if (mark.invalidations !== this.invalidations || body.length > this.limits.maxEntryBytes) return;
    this.remove(id);
    // Flagged as used: a new entry outlives one pass of eviction, as hot entries do.
    this.entries.set(id, { version, body, currentAt: mark.writes, used: true });
    this.bytesKept += body.length;
    while (this.entries.size > this.limits.maxEntries || this.bytesKept > this.limits.maxBytes) this.evictOne();
  }

  /** Forgets task `id`: what reading it returns changed without its version changing. */
  invalidate(id: string): void {
    this.invalidations++;
    this.remove(id);
  }

  /** How many tasks are kept. */
  get size(): number {
    return this.entries.size;
  }

  /** The bytes of the answers kept. */
  get bytes(): number {
    return this.bytesKept;
  }

  /** Removes the oldest entry not used since it was last passed over; those used go to the end, unflagged. */
  private evictOne(): void {
    for (const [id, entry] of this.entries) {
      this.entries.delete(id);
      if (!entry.used) {
        this.bytesKept -= entry.body.length;
        return;
      }
      entry.used = false;
      this.entries.set(id, entry);
    }
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.bytesKept -= entry.body.length;
  }
}
