/**
 * The warm-up queue's pace (at most warmupsUnderWay spawns asked for at once) and what it
 * forgets: runs still waiting whose task was deleted, stopped or paused.
 */
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import { defaultRunPolicy } from '../../src/core/policy.js';
import type { Task } from '../../src/core/task.js';
import { WarmUpQueue, warmupsUnderWay } from '../../src/engine/warm-up-queue.js';
import { RecordingLog } from './engine-harness.js';

function taskNamed(id: string): Task {
  return {
    id,
    type: 'delay',
    time: '1s',
    schedule: { kind: 'once', at: 1_000 },
    timezone: 'UTC',
    script: `echo ${id}`,
    lang: 'bash',
    policy: defaultRunPolicy,
    execution: defaultExecution,
    createdAt: 0,
    state: { status: 'ToBeExecuted', nextRunAt: 1_000 },
    lastStatusUpdated: 0,
    version: 1,
    lastRun: 0,
  };
}

/** A queue whose spawns complete only when the test says so. */
function queue() {
  const asked: string[] = [];
  const pending: Array<() => void> = [];
  const warmUps = new WarmUpQueue({
    prepare: (task) => {
      asked.push(task.script);
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    stillAhead: () => true,
    maxWaiting: 1_000,
    log: new RecordingLog(),
  });
  /** Lets the oldest spawn under way complete, and the queue go on. */
  const completeOne = async () => {
    pending.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { warmUps, asked, completeOne };
}

describe('WarmUpQueue', () => {
  it(`asks for at most ${warmupsUnderWay} spawns at once, the next as one completes`, async () => {
    const { warmUps, asked, completeOne } = queue();
    warmUps.add(Array.from({ length: warmupsUnderWay + 2 }, (_, index) => taskNamed(`t${index}`)));
    expect(asked).toHaveLength(warmupsUnderWay);
    await completeOne();
    expect(asked).toHaveLength(warmupsUnderWay + 1);
  });

  it("forget(id) drops that task's runs still waiting, not the others', and the same id queued again is prepared", async () => {
    const { warmUps, asked, completeOne } = queue();
    const busy = Array.from({ length: warmupsUnderWay }, (_, index) => taskNamed(`busy${index}`));
    warmUps.add([...busy, taskNamed('gone'), taskNamed('kept')]);
    expect(asked).toHaveLength(warmupsUnderWay);

    warmUps.forget('gone');
    const again = { ...taskNamed('gone'), script: 'echo submitted again' };
    warmUps.add([again]);
    await completeOne();
    await completeOne();
    await completeOne();
    expect(asked.slice(warmupsUnderWay)).toEqual(['echo kept', 'echo submitted again']);
  });
});
