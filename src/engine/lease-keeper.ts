/**
 * The leases of a node's runs, when several nodes share the store (run-leases.ts). At every
 * beat it renews the leases of the runs executing here, writing their output so far with
 * them, and ends the local processes of the runs that are no longer this node's (another
 * node took them over while this one was paused or cut off from the database, or their task
 * was deleted). Then it takes over the runs of other nodes whose lease expired: each is
 * recorded interrupted through the engine's apply, so the task moves on by its own rules (a
 * retry may then run here or anywhere).
 *
 * Besides, every second, it takes what other nodes asked of this node's runs (a kill sent to
 * them for a run executing here) and does it.
 *
 * A failing store (the database down) only delays the next beat: the runs here go on, and
 * if the database stays away longer than the lease, their later writes are refused.
 */
import { runKeyOf } from '../core/task.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { SchedulerError } from '../core/errors.js';
import type { ExpiredRun, KillRequest, LiveRun, RunKey, RunLeases, RunRequests } from '../store/run-leases.js';
import type { EngineLog } from './engine-log.js';
import type { FaultReporter } from './fault-log.js';

/** Expired runs taken over per beat, at most: the rest wait for the next beat. */
const takeoversPerBeat = 100;

/** What the keeper needs. */
export interface LeaseKeeperOptions {
  leases: RunLeases;
  clock: Clock;
  log: EngineLog;
  faults: FaultReporter;
  /** Between beats, in ms (the lease renewal interval). */
  everyMs: number;
  /** The runs in progress here, with their output so far. */
  localRuns(): LiveRun[];
  /** Ends the local process of a run that is no longer this node's (its end is not recorded). */
  abandon(key: RunKey): void;
  /** Records an expired run of another node interrupted; fails with lease_lost when someone else did first. */
  takeOver(expired: ExpiredRun): Promise<void>;
  /** Where other nodes ask this one to end its runs; taken every `requestsEveryMs`. */
  requests: RunRequests;
  /** Ends a run here as another node asked (its end is recorded as any kill's). */
  kill(request: KillRequest): void;
  /** Between two looks for requests, in ms (default 1s). */
  requestsEveryMs?: number;
}

/** Renews this node's leases and takes over the expired ones of others, at every beat. */
export class LeaseKeeper {
  private timer: TimerHandle | undefined;
  private requestTimer: TimerHandle | undefined;
  private stopped = false;
  private beating: Promise<void> | undefined;
  private looking: Promise<void> | undefined;

  constructor(private readonly options: LeaseKeeperOptions) {}

  /** Beats now, then every `everyMs`; looks for requests now, then every `requestsEveryMs`. */
  start(): void {
    this.stopped = false;
    this.beatNow();
    this.lookForRequestsNow();
  }

  /** No more beats; resolves once a beat under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimer(this.timer);
    if (this.requestTimer) this.options.clock.clearTimer(this.requestTimer);
    this.timer = undefined;
    this.requestTimer = undefined;
    await Promise.all([this.beating, this.looking]);
  }

  private lookForRequestsNow(): void {
    if (this.stopped) return;
    this.looking = this.takeRequests().finally(() => {
      this.looking = undefined;
      if (!this.stopped) this.requestTimer = this.options.clock.setTimer(() => this.lookForRequestsNow(), this.options.requestsEveryMs ?? 1000);
    });
  }

  private async takeRequests(): Promise<void> {
    try {
      for (const request of await this.options.requests.takeRequests()) {
        this.options.log.info({ task: request.taskId, run: request.run, by: request.requestedBy }, `another node asked to end this run: ${request.reason}`);
        this.options.kill(request);
      }
    } catch (error) {
      this.options.faults.report('run requests', { error }, `could not look for what other nodes ask of this node's runs; trying again every ${this.options.requestsEveryMs ?? 1000}ms`);
    }
  }

  private beatNow(): void {
    if (this.stopped) return;
    this.beating = this.beat().finally(() => {
      this.beating = undefined;
      if (!this.stopped) this.timer = this.options.clock.setTimer(() => this.beatNow(), this.options.everyMs);
    });
  }

  private async beat(): Promise<void> {
    try {
      await this.renew();
      await this.takeOverExpired();
    } catch (error) {
      this.options.faults.report('leases', { error }, `could not renew this node's leases or look for expired ones; trying again every ${this.options.everyMs}ms`);
    }
  }

  private async renew(): Promise<void> {
    const lost = await this.options.leases.renew(this.options.localRuns());
    for (const key of lost) {
      this.options.log.warn(
        { task: key.taskId, run: key.run },
        'this run is no longer this node\'s (its lease lapsed and another node recorded it, or its task was deleted): ending its process here; what it does from now on is not recorded',
      );
      this.options.abandon(key);
    }
  }

  private async takeOverExpired(): Promise<void> {
    const expired = await this.options.leases.listExpired(takeoversPerBeat);
    // A run executing here whose renewals failed is still this node's until someone takes it:
    // the next renewal extends it. One of this node's that is not here never started (its
    // record committed but the answer was lost): it is taken over like another node's.
    const here = new Set(this.options.localRuns().map((run) => runKeyOf(run.taskId, run.run)));
    for (const run of expired) {
      if (this.stopped) return;
      if (here.has(runKeyOf(run.taskId, run.run))) continue;
      try {
        await this.options.takeOver(run);
        this.options.log.warn(
          { task: run.taskId, run: run.run, node: run.ownerNode, leaseExpiredAt: new Date(run.leaseExpiredAt).toISOString() },
          'recorded interrupted a run whose node stopped renewing its lease',
        );
      } catch (error) {
        // Another node took it over first, or its owner came back in time: nothing to do.
        if (error instanceof SchedulerError && (error.code === 'lease_lost' || error.code === 'not_found')) continue;
        this.options.log.error({ task: run.taskId, run: run.run, error }, 'could not record interrupted a run whose lease expired; trying again at the next beat');
      }
    }
  }
}
