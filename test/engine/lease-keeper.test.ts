/**
 * The lease keeper alone, over fakes: its beats on a fake clock, what it does with lost
 * runs, expired runs and requests, and how it lives through a failing store (reported, the
 * next beat tries again).
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { LeaseKeeper } from '../../src/engine/lease-keeper.js';
import type { ExpiredRun, KillRequest, LiveRun, RunKey } from '../../src/store/run-leases.js';
import { FakeClock } from '../support/fake-clock.js';
import { until } from '../support/wait.js';
import { RecordingLog } from './engine-harness.js';

const noOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };

function expired(taskId: string): ExpiredRun {
  return {
    taskId,
    run: 1,
    ownerNode: 'gone',
    ownerHome: 'home-gone',
    fence: 1,
    leaseExpiredAt: 0,
    record: { run: 1, scheduledAt: 0, attempt: 1, startedAt: 0, finishedAt: null, outcome: 'running', exitCode: null, signal: null, error: null, stdout: noOutput, stderr: noOutput, outputCap: 1024 },
  };
}

/** A keeper over scripted fakes; `store` says what each call does. */
function keeperWith(store: {
  renew?: (runs: readonly LiveRun[]) => Promise<RunKey[]>;
  listExpired?: () => Promise<ExpiredRun[]>;
  takeOver?: (run: ExpiredRun) => Promise<void>;
  takeRequests?: () => Promise<KillRequest[]>;
  localRuns?: LiveRun[];
}) {
  const clock = new FakeClock();
  const log = new RecordingLog();
  const faults: Array<{ kind: string; message: string }> = [];
  const abandoned: RunKey[] = [];
  const killed: KillRequest[] = [];
  const takenOver: string[] = [];
  let beats = 0;
  let looks = 0;
  const keeper = new LeaseKeeper({
    leases: {
      renew: async (runs) => {
        beats++;
        return (store.renew ?? (async () => []))(runs);
      },
      listExpired: async () => (store.listExpired ?? (async () => []))(),
      isOwn: async () => true,
    },
    requests: {
      requestKill: async () => [],
      takeRequests: async () => {
        looks++;
        return (store.takeRequests ?? (async () => []))();
      },
    },
    clock,
    log,
    faults: { report: (kind, _details, message) => faults.push({ kind, message }) },
    everyMs: 1000,
    requestsEveryMs: 200,
    localRuns: () => store.localRuns ?? [],
    abandon: (key) => abandoned.push(key),
    takeOver: async (run) => {
      takenOver.push(run.taskId);
      await (store.takeOver ?? (async () => {}))(run);
    },
    kill: (request) => killed.push(request),
  });
  return { keeper, clock, log, faults, abandoned, killed, takenOver, beats: () => beats, looks: () => looks };
}

describe('LeaseKeeper', () => {
  it('ends the local runs a renewal says are lost, and takes over the expired runs that are not here', async () => {
    const here = { taskId: 'mine', run: 3, stdout: noOutput, stderr: noOutput };
    const k = keeperWith({
      localRuns: [here],
      renew: async () => [{ taskId: 'mine', run: 3 }],
      listExpired: async () => [expired('mine-lapsed'), { ...expired('mine'), run: 3 }, expired('theirs')],
    });
    k.keeper.start();
    await until(() => k.takenOver.length === 2, 'the takeovers of the first beat');
    expect(k.abandoned).toEqual([{ taskId: 'mine', run: 3 }]);
    // The run still here is left to this node's renewals; the others are taken over.
    expect(k.takenOver).toEqual(['mine-lapsed', 'theirs']);
    expect(k.log.entries.filter((entry) => entry.level === 'warn')).toHaveLength(3);
    await k.keeper.stop();
  });

  it('lets a takeover another node won pass quietly, logs any other failure, and goes on with the rest', async () => {
    const k = keeperWith({
      listExpired: async () => [expired('won-elsewhere'), expired('broken'), expired('fine')],
      takeOver: async (run) => {
        if (run.taskId === 'won-elsewhere') throw new SchedulerError('lease_lost', 'another node first');
        if (run.taskId === 'broken') throw new Error('a damaged row');
      },
    });
    k.keeper.start();
    await until(() => k.takenOver.length === 3, 'the three takeovers');
    expect(k.log.errors.map((entry) => entry.message)).toEqual(['could not record interrupted a run whose lease expired; trying again at the next beat']);
    await k.keeper.stop();
  });

  it('reports a failing store and beats again later; takes requests on its own faster beat', async () => {
    let failing = true;
    const k = keeperWith({
      renew: async () => {
        if (failing) throw new SchedulerError('store_unavailable', 'the database is away');
        return [];
      },
      takeRequests: async () => {
        if (failing) throw new SchedulerError('store_unavailable', 'the database is away');
        return [{ taskId: 't', run: 1, reason: 'killed on request', requestedBy: 'other' }];
      },
    });
    k.keeper.start();
    await until(() => k.faults.length === 2, 'both failures reported');
    expect(k.faults.map((fault) => fault.kind).sort()).toEqual(['leases', 'run requests']);
    failing = false;
    k.clock.advance(200);
    await until(() => k.killed.length === 1, 'the request taken at the next look');
    expect(k.killed[0]).toMatchObject({ taskId: 't', run: 1 });
    expect(k.beats()).toBe(1);
    k.clock.advance(800);
    await until(() => k.beats() === 2, 'the next beat');
    await k.keeper.stop();
    // Stopped: no timer left behind.
    const before = { beats: k.beats(), looks: k.looks() };
    k.clock.advance(10_000);
    expect({ beats: k.beats(), looks: k.looks() }).toEqual(before);
  });
});
