/**
 * This node's heartbeat: every interval, it records in the store that the node is alive and
 * how many runs it executes. A beat that fails (the database is down) is logged through the
 * FaultLog, once a minute with a count, and the node carries on: losing the database must not
 * end the daemon and its runs, and the next beat that succeeds makes the node alive again.
 * Beats never overlap: the next is scheduled once the previous has settled, so a slow
 * database gets at most one beat in flight from each node.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { FaultReporter } from '../engine/fault-log.js';
import type { NodeRegistry } from '../store/node-registry.js';

export interface NodeHeartbeatOptions {
  registry: NodeRegistry;
  clock: Clock;
  intervalMs: number;
  /** Runs executing now, sent with each beat. */
  runsExecuting: () => number;
  faults: FaultReporter;
}

export class NodeHeartbeat {
  private timer: TimerHandle | undefined;
  private beating: Promise<void> | undefined;
  private ended = false;

  constructor(private readonly options: NodeHeartbeatOptions) {}

  /** Beats every interval from now on, until stop(). */
  start(): void {
    this.schedule();
  }

  /** Stops beating, waiting for a beat under way (so that it cannot land after the node's stop). */
  async stop(): Promise<void> {
    this.ended = true;
    if (this.timer !== undefined) this.options.clock.clearTimer(this.timer);
    this.timer = undefined;
    await this.beating;
  }

  private schedule(): void {
    if (this.ended) return;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      this.beating = this.beat().finally(() => {
        this.beating = undefined;
        this.schedule();
      });
    }, this.options.intervalMs);
  }

  private async beat(): Promise<void> {
    try {
      await this.options.registry.heartbeat(this.options.runsExecuting());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.options.faults.report(
        'node_heartbeat',
        { error },
        `could not record this node's heartbeat in the store (${reason}); the daemon keeps running and beats again every ${this.options.intervalMs}ms, but other nodes list it as stale meanwhile`,
      );
    }
  }
}
