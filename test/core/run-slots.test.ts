/** The concurrency policy as pure decisions: counts and limits in, a decision out. */
import { describe, expect, it } from 'vitest';
import { defaultExecution } from '../../src/core/execution.js';
import {
  describeSlots,
  mayStart,
  queueLimit,
  queueOf,
  runsToStart,
  slotLimitsProblem,
  unboundedSlots,
  type SlotCounts,
  type SlotLimits,
} from '../../src/core/run-slots.js';

/** Slots taken: `total` in all, and per queue as given. */
function taken(total: number, byQueue: Record<string, number> = {}): SlotCounts {
  return { total, byQueue: new Map(Object.entries(byQueue)) };
}

describe('mayStart', () => {
  const limits: SlotLimits = { maxRuns: 3, queues: { gpu: 1, io: 2 } };
  const cases: Array<{ name: string; queue: string; taken: SlotCounts; limits?: SlotLimits; expected: boolean }> = [
    { name: 'nothing taken', queue: 'default', taken: taken(0), expected: true },
    { name: 'one global slot left', queue: 'default', taken: taken(2, { default: 2 }), expected: true },
    { name: 'every global slot taken', queue: 'default', taken: taken(3, { default: 3 }), expected: false },
    { name: 'its queue full, global room', queue: 'gpu', taken: taken(1, { gpu: 1 }), expected: false },
    { name: 'its queue has room', queue: 'io', taken: taken(2, { io: 1, gpu: 1 }), expected: true },
    { name: 'its queue has room, global full', queue: 'io', taken: taken(3, { gpu: 1, default: 2 }), expected: false },
    { name: 'another queue full', queue: 'default', taken: taken(1, { gpu: 1 }), expected: true },
    { name: 'an unconfigured queue: only the global maximum', queue: 'old', taken: taken(2, { old: 2 }), expected: true },
    { name: 'an unconfigured queue, global full', queue: 'old', taken: taken(3, { old: 3 }), expected: false },
    { name: 'a limit on the default queue', queue: 'default', taken: taken(2, { default: 2 }), limits: { maxRuns: 10, queues: { default: 2 } }, expected: false },
    { name: 'a queue named after an Object property is not configured', queue: 'constructor', taken: taken(5, { constructor: 5 }), limits: { maxRuns: 10, queues: {} }, expected: true },
    { name: 'unbounded', queue: 'default', taken: taken(10_000, { default: 10_000 }), limits: unboundedSlots, expected: true },
  ];
  it.each(cases)('$name: $expected', ({ queue, taken: counts, limits: given, expected }) => {
    expect(mayStart(queue, counts, given ?? limits)).toBe(expected);
  });
});

describe('runsToStart', () => {
  const cases: Array<{ name: string; waiting: string[]; taken: SlotCounts; limits: SlotLimits; expected: number[] }> = [
    { name: 'none waiting', waiting: [], taken: taken(0), limits: { maxRuns: 2, queues: {} }, expected: [] },
    { name: 'arrival order, up to the global maximum', waiting: ['default', 'default', 'default'], taken: taken(0), limits: { maxRuns: 2, queues: {} }, expected: [0, 1] },
    { name: 'no free slot', waiting: ['default'], taken: taken(2, { default: 2 }), limits: { maxRuns: 2, queues: {} }, expected: [] },
    {
      name: 'a run held back by its own queue does not hold back later runs of other queues',
      waiting: ['gpu', 'default', 'gpu', 'default'],
      taken: taken(1, { gpu: 1 }),
      limits: { maxRuns: 3, queues: { gpu: 1 } },
      expected: [1, 3],
    },
    {
      name: 'each chosen run takes its slot before the next is looked at',
      waiting: ['gpu', 'gpu', 'io', 'io', 'io'],
      taken: taken(0),
      limits: { maxRuns: 4, queues: { gpu: 1, io: 2 } },
      expected: [0, 2, 3],
    },
    {
      name: 'the global maximum stops the scan',
      waiting: ['a', 'b', 'c', 'd'],
      taken: taken(2, { x: 2 }),
      limits: { maxRuns: 3, queues: {} },
      expected: [0],
    },
    {
      name: 'a limit on the default queue, unconfigured queues free',
      waiting: ['default', 'default', 'default', 'gone', 'gone'],
      taken: taken(0),
      limits: { maxRuns: 10, queues: { default: 2 } },
      expected: [0, 1, 3, 4],
    },
    { name: 'counts are not changed', waiting: ['q'], taken: taken(0), limits: { maxRuns: 1, queues: {} }, expected: [0] },
  ];
  it.each(cases)('$name', ({ waiting, taken: counts, limits, expected }) => {
    const before = [...counts.byQueue];
    expect(runsToStart(waiting, counts, limits)).toEqual(expected);
    expect([...counts.byQueue]).toEqual(before);
  });

  it('after the chosen runs start, no run left waiting fits', () => {
    const limits: SlotLimits = { maxRuns: 5, queues: { gpu: 1, io: 2 } };
    const queues = ['default', 'gpu', 'io', 'old'];
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const waiting = Array.from({ length: Math.floor(random() * 12) }, () => queues[Math.floor(random() * queues.length)]!);
      const byQueue: Record<string, number> = { gpu: Math.floor(random() * 2), io: Math.floor(random() * 3) };
      const counts = taken(byQueue.gpu! + byQueue.io!, byQueue);
      const chosen = runsToStart(waiting, counts, limits);
      const after = new Map(counts.byQueue);
      for (const index of chosen) after.set(waiting[index]!, (after.get(waiting[index]!) ?? 0) + 1);
      const total = counts.total + chosen.length;
      expect(total).toBeLessThanOrEqual(limits.maxRuns);
      for (const [queue, limit] of Object.entries(limits.queues)) expect(after.get(queue) ?? 0).toBeLessThanOrEqual(limit);
      const left = waiting.filter((_, index) => !chosen.includes(index));
      for (const queue of left) expect(mayStart(queue, { total, byQueue: after }, limits)).toBe(false);
      expect(chosen).toEqual([...chosen].sort((a, b) => a - b));
    }
  });
});

describe('slot limits', () => {
  it.each([
    [{ maxRuns: 1, queues: {} }, undefined],
    [{ maxRuns: 4, queues: { gpu: 1 } }, undefined],
    [unboundedSlots, undefined],
    [{ maxRuns: 0, queues: {} }, 'the maximum of runs at once must be a whole number of at least 1 (it is 0)'],
    [{ maxRuns: 1.5, queues: {} }, 'the maximum of runs at once must be a whole number of at least 1 (it is 1.5)'],
    [{ maxRuns: 2, queues: { gpu: 0 } }, 'the limit of queue "gpu" must be a whole number of at least 1 (it is 0)'],
  ] as Array<[SlotLimits, string | undefined]>)('%j: %s', (limits, problem) => {
    expect(slotLimitsProblem(limits)).toBe(problem);
  });

  it('a run takes a slot of the queue its execution settings name, the default queue without them', () => {
    expect(queueOf(undefined)).toBe('default');
    expect(queueOf({ ...defaultExecution, queue: 'gpu' })).toBe('gpu');
    expect(queueLimit({ maxRuns: 3, queues: { gpu: 1 } }, 'gpu')).toBe(1);
    expect(queueLimit({ maxRuns: 3, queues: { gpu: 1 } }, 'toString')).toBeUndefined();
  });
});

describe('describeSlots', () => {
  it('shows default first, then the configured queues by name, then unconfigured queues with runs', () => {
    const limits: SlotLimits = { maxRuns: 3, queues: { io: 2, gpu: 1, alpha: 1 } };
    expect(describeSlots(limits, taken(0), [])).toEqual({
      maxRuns: 3,
      running: 0,
      waiting: 0,
      queues: [
        { name: 'default', limit: null, running: 0, waiting: 0 },
        { name: 'alpha', limit: 1, running: 0, waiting: 0 },
        { name: 'gpu', limit: 1, running: 0, waiting: 0 },
        { name: 'io', limit: 2, running: 0, waiting: 0 },
      ],
    });
    expect(describeSlots(limits, taken(3, { gpu: 1, io: 1, old: 1 }), ['gpu', 'default', 'old', 'zeta'])).toEqual({
      maxRuns: 3,
      running: 3,
      waiting: 4,
      queues: [
        { name: 'default', limit: null, running: 0, waiting: 1 },
        { name: 'alpha', limit: 1, running: 0, waiting: 0 },
        { name: 'gpu', limit: 1, running: 1, waiting: 1 },
        { name: 'io', limit: 2, running: 1, waiting: 0 },
        { name: 'old', limit: null, running: 1, waiting: 1 },
        { name: 'zeta', limit: null, running: 0, waiting: 1 },
      ],
    });
  });

  it('shows a limit configured for the default queue', () => {
    expect(describeSlots({ maxRuns: 10, queues: { default: 2 } }, taken(2, { default: 2 }), ['default']).queues[0]).toEqual({ name: 'default', limit: 2, running: 2, waiting: 1 });
  });
});
