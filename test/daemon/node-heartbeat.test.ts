/** The daemon's heartbeat loop: beats every interval with the runs executing; a failing store is reported, not fatal. */
import { describe, expect, it } from 'vitest';
import { NodeHeartbeat } from '../../src/daemon/node-heartbeat.js';
import type { NodeRecord, NodeRegistry, NodeState } from '../../src/store/node-registry.js';
import { FakeClock } from '../support/fake-clock.js';

/** A registry that records the beats it is sent, and refuses them while `down`. */
class RecordingRegistry implements NodeRegistry {
  beats: number[] = [];
  down = false;
  async register(): Promise<void> {}
  async heartbeat(runsExecuting: number): Promise<void> {
    if (this.down) throw new Error('connection refused');
    this.beats.push(runsExecuting);
  }
  async list(): Promise<NodeRecord[]> {
    return [];
  }
  async stopped(): Promise<void> {}
  self(): { id: string; state: NodeState } {
    return { id: 'n', state: 'alive' };
  }
}

/** Lets the beat under way settle (its promise chain), without time passing. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('NodeHeartbeat', () => {
  it('beats every interval with the runs executing then, keeps beating through failures (reported), and stops', async () => {
    const clock = new FakeClock();
    const registry = new RecordingRegistry();
    const reports: string[] = [];
    let running = 2;
    const heartbeat = new NodeHeartbeat({
      registry, clock, intervalMs: 5000, runsExecuting: () => running,
      faults: { report: (kind, _details, message) => reports.push(`${kind}: ${message}`) },
    });
    heartbeat.start();
    clock.advance(4999);
    await settle();
    expect(registry.beats).toEqual([]);
    clock.advance(1);
    await settle();
    expect(registry.beats).toEqual([2]);

    registry.down = true;
    clock.advance(5000);
    await settle();
    expect(reports).toEqual([expect.stringMatching(/^node_heartbeat: could not record this node's heartbeat in the store \(connection refused\); the daemon keeps running/)]);

    registry.down = false;
    running = 0;
    clock.advance(5000);
    await settle();
    expect(registry.beats).toEqual([2, 0]);

    await heartbeat.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
