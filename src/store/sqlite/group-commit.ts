/**
 * Group commit: writes that arrive in the same turn of the event loop are committed together
 * in one transaction, and each caller's promise settles only after that commit. Every write
 * is still committed before it is acknowledged, but a burst of them pays for one commit (and,
 * with synchronous=FULL, one fsync) instead of one each.
 */

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Batches items into one transaction per event-loop turn. */
export class GroupCommit<T> {
  private pending: Pending<T>[] = [];

  /**
   * @param commit writes every item in one transaction; returns, for each item, the error
   *   that refuses it alone (undefined when it was written). Throwing fails the whole batch.
   */
  constructor(private readonly commit: (items: T[]) => Array<Error | undefined>) {}

  /** Resolves once `item` is committed; rejects with its own error, or the batch's. */
  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits what is waiting now (also called before the database closes). */
  flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let refusals: Array<Error | undefined>;
    try {
      refusals = this.commit(batch.map((entry) => entry.item));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const refusal = refusals[index];
      if (refusal) entry.reject(refusal);
      else entry.resolve();
    });
  }
}
