/**
 * Pending tasks written straight into a data directory's database before its daemon starts,
 * with the store's own code (SqliteTaskStore.insertTask, as the daemon's submit path calls
 * it, and the same task a submit makes: parseSubmission, status ToBeExecuted). Much faster
 * than a million HTTP submits; what the daemon then holds in memory is what it reads at
 * start, not what a million submits left behind (the figures say so).
 */
import { join } from 'node:path';
import { newTask, parseSubmission } from '../src/core/submission.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-store.js';

/** Tasks inserted per group commit (one transaction). */
const batchSize = 10_000;

/** Writes `count` delay tasks due in 1,000 hours, ids `pending-0`, `pending-1`, ... */
export async function prefillPending(dataDir: string, count: number): Promise<void> {
  const store = new SqliteTaskStore({ path: join(dataDir, 'scheduler.db') });
  try {
    const now = Date.now();
    const definition = parseSubmission({ id: 'pending-0', type: 'delay', time: '1000h', script: 'echo never' }, { maxScriptBytes: 1 << 20 }, now, 'UTC');
    const template = newTask(definition, now);
    for (let first = 0; first < count; first += batchSize) {
      const ids = Array.from({ length: Math.min(batchSize, count - first) }, (_, index) => `pending-${first + index}`);
      // Inserted in the same turn of the event loop: one group commit.
      await Promise.all(ids.map((id) => store.insertTask({ ...template, id })));
    }
  } finally {
    await store.close();
  }
}
