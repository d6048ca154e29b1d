/**
 * Runs operations on the same key one after another. The engine takes one key per task, so
 * a fire, the end of a run, a stop and a delete of the same task never interleave inside
 * this daemon; compare-and-set writes in the store guard against other daemons.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `operation` once every operation queued before it on `key` has settled. */
  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // Forget the key once nothing is queued behind us, so idle tasks cost no memory.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
