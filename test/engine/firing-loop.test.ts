/** The firing loop on its own: what it does when the store fails it. */
import { describe, expect, it } from 'vitest';
import { FiringLoop } from '../../src/engine/firing-loop.js';
import { FaultLog } from '../../src/engine/fault-log.js';
import type { Task } from '../../src/core/task.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLog, T0 } from './engine-harness.js';

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FiringLoop', () => {
  it('when re-arming fails after a pass, keeps a timer a submit armed meanwhile for an earlier task', async () => {
    const clock = new FakeClock(T0);
    const log = new RecordingLog();
    let passes = 0;
    const earliest = deferred<number | undefined>();
    const loop = new FiringLoop({
      store: {
        listDueTasks: async () => {
          passes++;
          return [];
        },
        earliestDueAt: () => earliest.promise,
      },
      prepare: () => undefined,
      clock,
      log,
      faults: new FaultLog(log, clock),
      warmupMs: 0,
      apply: async () => undefined,
    });
    loop.armFor({ state: { status: 'ToBeExecuted', nextRunAt: T0 + 500 } } as Task);
    clock.advance(500); // a pass: nothing due; then it reads the earliest due time...
    await settle();
    expect(passes).toBe(1);
    // ...and meanwhile a task due 100 ms from now is submitted...
    loop.armFor({ state: { status: 'ToBeExecuted', nextRunAt: T0 + 600 } } as Task);
    // ...then the read fails: the retry in 1 s must not replace the earlier timer.
    earliest.reject(new Error('disk I/O error'));
    await settle();
    expect(log.errors.map((entry) => entry.message)).toEqual(['could not re-arm the timer; retrying every 1000ms']);
    clock.advance(100);
    await settle();
    expect(passes).toBe(2);
    loop.stop();
  });
});
