/**
 * Group commit for PostgreSQL: new tasks submitted while a batch is being written wait, and
 * go in the next one, as one INSERT of many rows. One batch is written at a time, so tasks
 * are committed (and take their place in submission order) in the order they were submitted,
 * and each caller's promise settles only once its batch has committed.
 */

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The most items one batch carries (a statement has at most 65,535 parameters). */
export const maxBatch = 500;

/** Writes items in batches, one batch at a time, in the order they came. */
export class InsertBatcher<T> {
  private pending: Pending<T>[] = [];
  private writing: Promise<void> | undefined;

  /**
   * @param commit writes the items in one statement or transaction; resolves, for each item,
   *   with the error that refuses it alone (undefined when it was written). Rejecting fails
   *   the whole batch.
   */
  constructor(private readonly commit: (items: T[]) => Promise<Array<Error | undefined>>) {}

  /** Resolves once `item` is committed; rejects with its own error, or the batch's. */
  write(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  /** Resolves once everything written so far has settled. */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    // Those submitted in the same turn of the event loop go together.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, maxBatch);
      let refusals: Array<Error | undefined>;
      try {
        refusals = await this.commit(batch.map((entry) => entry.item));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
        continue;
      }
      batch.forEach((entry, index) => {
        const refusal = refusals[index];
        if (refusal) entry.reject(refusal);
        else entry.resolve();
      });
    }
    this.writing = undefined;
  }
}
