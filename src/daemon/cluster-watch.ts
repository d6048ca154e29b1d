/**
 * Watching across nodes (a store shared by several nodes: PostgreSQL). The engine tells this
 * node's long polls and event streams of the changes it makes; this tells them of the changes
 * the other nodes make, which the store reports (ClusterChanges: a notification, with a poll
 * as the backstop). For each change it wakes the long polls waiting on the task, and, when a
 * stream here watches the task, reads the task and its runs and hands them to the hub, which
 * sends the events a change made here would have sent (rebuilt from the task before and
 * after). The live output of runs executing elsewhere is followed by RemoteOutputFollower;
 * their own output is flushed to the store about every second (OutputFlusher).
 *
 * A change this node made arrives here too: the long poll's waiters and the hub skip a
 * version they already know, so nobody is told twice.
 */
import type { ChangeFeed } from '../engine/change-feed.js';
import type { FaultReporter } from '../engine/fault-log.js';
import { inProgressRuns } from '../protocol/events.js';
import type { EventHub } from '../server/events/event-hub.js';
import { RemoteOutputFollower } from '../server/events/remote-output.js';
import type { ClusterChange, ClusterChanges, RunOwners } from '../store/cluster-changes.js';
import type { TaskStore } from '../store/task-store.js';

/** How often a stream's run executing on another node has its row read, in ms. */
const followOutputEveryMs = 500;

/** What the cluster watch needs. */
export interface ClusterWatchOptions {
  changes: ClusterChanges;
  store: Pick<TaskStore, 'getTaskWithRuns'> & RunOwners;
  feed: ChangeFeed;
  hub: EventHub;
  /** This node's home: its runs are told by its engine. */
  home: string;
  /** True when the run executes here now. */
  isHere(taskId: string, run: number): boolean;
  faults: FaultReporter;
  now: () => number;
}

/** Relays the other nodes' changes to this node's watchers. */
export class ClusterWatch {
  private readonly follower: RemoteOutputFollower;
  /** Tasks being read for the hub, and the read to make once that one is done. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();

  constructor(private readonly options: ClusterWatchOptions) {
    const { store, hub, home, faults, now } = options;
    this.follower = new RemoteOutputFollower({
      hub,
      isHere: options.isHere,
      everyMs: followOutputEveryMs,
      now,
      readRun: async (taskId, run) => {
        const found = await store.getRunWithOwner(taskId, run);
        return found && { run: found.run, here: found.ownerHome === home };
      },
      onFault: (error) => faults.report('remote-output', { error }, 'could not read the output of a run executing on another node; trying again'),
    });
  }

  async start(): Promise<void> {
    const { hub, store } = this.options;
    hub.outputElsewhere = (taskId, run) => this.follower.liveOutput(taskId, run);
    hub.clusterResume = {
      read: (taskId) => store.getTaskWithRuns(taskId),
      followFrom: (taskId, recorded) => this.follower.followFrom(taskId, recorded),
      refresh: (taskId) => this.refresh(taskId),
    };
    await this.options.changes.start(
      (changes) => this.relay(changes),
      (error, message) => this.options.faults.report('cluster-changes', { error }, message),
    );
    this.follower.start();
  }

  async close(): Promise<void> {
    await this.options.changes.close();
    await this.follower.close();
    await Promise.all([...this.refreshing.values(), ...this.queued.values()]);
  }

  private relay(changes: readonly ClusterChange[]): void {
    const { feed, hub } = this.options;
    const watched = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'deleted') {
        feed.publish(change.taskId, 'deleted');
        hub.deleted(change.taskId);
        watched.delete(change.taskId);
        continue;
      }
      feed.publish(change.taskId, 'changed', change.version);
      const told = hub.lastTold(change.taskId);
      if (told && change.version > told.version) watched.add(change.taskId);
    }
    for (const taskId of watched) void this.refresh(taskId);
  }

  /**
   * Reads the task for its watchers here: one read per task at a time; asked meanwhile, one
   * more read once it is done, shared by all who asked (it sees what they were told of).
   */
  private refresh(taskId: string): Promise<void> {
    const current = this.refreshing.get(taskId);
    if (current) {
      let next = this.queued.get(taskId);
      if (!next) {
        next = current.then(() => {
          this.queued.delete(taskId);
          return this.refresh(taskId);
        });
        this.queued.set(taskId, next);
      }
      return next;
    }
    const reading = this.tellHub(taskId)
      .catch((error) => this.options.faults.report('cluster-watch', { error, task: taskId }, 'could not read a task another node changed, for its event streams here; they will see the next change'))
      .finally(() => this.refreshing.delete(taskId));
    this.refreshing.set(taskId, reading);
    return reading;
  }

  private async tellHub(taskId: string): Promise<void> {
    const { store, hub } = this.options;
    const found = await store.getTaskWithRuns(taskId);
    const previous = hub.lastTold(taskId);
    if (!found || !previous || found.task.version <= previous.version) return;
    // The runs that ended since: the rest of their output goes before the news that they ended.
    const wasInProgress = new Set(inProgressRuns(previous));
    const ended = found.runs.filter((run) => run.outcome !== 'running' && run.outcome !== 'skipped' && (wasInProgress.has(run.run) || run.run > previous.lastRun));
    if (ended.length > 0) await this.follower.finish(taskId, ended);
    hub.changedElsewhere(found.task, found.runs);
  }
}
