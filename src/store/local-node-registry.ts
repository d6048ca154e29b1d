/**
 * The registry of a daemon that owns its store alone (SQLite in its data directory): no other
 * node can share it, so the node lists only itself, from memory.
 */
import { SchedulerError } from '../core/errors.js';
import type { NodeIdentity } from '../core/node.js';
import type { NodeRecord, NodeRegistry, NodeState } from './node-registry.js';

export class LocalNodeRegistry implements NodeRegistry {
  private identity: NodeIdentity | undefined;
  private heartbeatAt = 0;
  private runsExecuting = 0;
  private stoppedAt: number | null = null;

  constructor(private readonly now: () => number) {}

  async register(identity: NodeIdentity): Promise<void> {
    this.identity = identity;
    this.heartbeatAt = this.now();
  }

  async heartbeat(runsExecuting: number): Promise<void> {
    this.heartbeatAt = this.now();
    this.runsExecuting = runsExecuting;
  }

  async list(): Promise<NodeRecord[]> {
    const identity = this.registered();
    const { id, host, pid, version, startedAt } = identity;
    return [{ id, host, pid, version, startedAt, heartbeatAt: this.heartbeatAt, runsExecuting: this.runsExecuting, state: this.state(), stoppedAt: this.stoppedAt, self: true }];
  }

  async stopped(): Promise<void> {
    this.stoppedAt = this.now();
  }

  self(): { id: string; state: NodeState } {
    return { id: this.registered().id, state: this.state() };
  }

  // A process that answers is alive: it has no store of its own to lose touch with.
  private state(): NodeState {
    return this.stoppedAt === null ? 'alive' : 'stopped';
  }

  private registered(): NodeIdentity {
    if (!this.identity) throw new SchedulerError('internal', 'the node registry was used before the node registered');
    return this.identity;
  }
}
