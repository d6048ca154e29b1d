/**
 * The live output of runs executing on another node, for the streams watching them here
 * (only when several nodes share the store). A node learns another node's output through the
 * database: the executing node writes each run's output so far (its head and tail windows)
 * into the run's row about once a second. While a stream here watches a task whose run
 * executes elsewhere, this reads the run's row about every `everyMs` and hands the bytes that
 * are new since the last read to the hub as output events, at their stream offsets: a jump
 * in offset says bytes were dropped between (the output cap's head and tail), as it does for
 * a run executing here. Nobody watching costs nothing.
 */
import { runKeyOf, type CapturedOutput, type LiveOutput, type OutputStream, type Run, type Task } from '../../core/task.js';
import { inProgressRuns } from '../../protocol/events.js';
import type { EventHub } from './event-hub.js';
import { unsentOutput } from './output-windows.js';

/** A run as recorded, and whether it executes on this node. */
export interface RecordedRun {
  run: Run;
  here: boolean;
}

/** What the follower needs. */
export interface RemoteOutputOptions {
  hub: Pick<EventHub, 'output' | 'watchedExecuting'>;
  /** True when the run executes on this node (its output reaches the hub from the engine): its row is not read. */
  isHere(taskId: string, run: number): boolean;
  /** Reads a run's row; undefined when there is none (pruned, or its task deleted). */
  readRun(taskId: string, run: number): Promise<RecordedRun | undefined>;
  /** Between two reads of a followed run, in ms. */
  everyMs: number;
  now: () => number;
  onFault?: (error: unknown) => void;
}

/** What was handed to the hub of one run: up to which offset of each stream, and the output as last read. */
interface Followed {
  sent: Record<OutputStream, number>;
  live: LiveOutput;
}

/** Follows the output of runs executing elsewhere while they are watched here. */
export class RemoteOutputFollower {
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly options: RemoteOutputOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.polling ??= this.poll()
        .catch((error) => this.options.onFault?.(error))
        .finally(() => (this.polling = undefined));
    }, this.options.everyMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  /** The output of a run executing elsewhere as last handed to the hub, for a stream that opens. */
  liveOutput(taskId: string, run: number): LiveOutput | undefined {
    return this.followed.get(runKeyOf(taskId, run))?.live;
  }

  /**
   * The output of a run executing elsewhere as streams here are told of it; a run not
   * followed yet is followed from `recorded` on (a stream resuming here brought it up to that).
   */
  followFrom(taskId: string, recorded: Run): LiveOutput {
    const name = runKeyOf(taskId, recorded.run);
    let followed = this.followed.get(name);
    if (!followed) {
      followed = { sent: { stdout: recorded.stdout.totalBytes, stderr: recorded.stderr.totalBytes }, live: { run: recorded.run, stdout: recorded.stdout, stderr: recorded.stderr } };
      this.followed.set(name, followed);
    }
    return followed.live;
  }

  /**
   * Hands the hub the rest of the output of the runs that end in a change made elsewhere,
   * before the hub tells that they ended: their rows hold all of it now.
   */
  async finish(taskId: string, ended: readonly Run[]): Promise<void> {
    for (const run of ended) {
      const followed = this.followed.get(runKeyOf(taskId, run.run));
      if (followed) {
        this.send(taskId, run, followed);
      } else {
        // Not read yet (it started and ended between two reads, or the stream just opened):
        // all its output is new here, unless it executed on this node, which told it already.
        const recorded = await this.options.readRun(taskId, run.run);
        if (recorded && !recorded.here) this.send(taskId, recorded.run, fresh(run.run));
      }
      this.followed.delete(runKeyOf(taskId, run.run));
    }
  }

  private async poll(): Promise<void> {
    const watched = new Set<string>();
    const reads: Array<Promise<void>> = [];
    for (const task of this.options.hub.watchedExecuting()) {
      for (const run of inProgressRuns(task)) {
        if (this.options.isHere(task.id, run)) continue;
        watched.add(runKeyOf(task.id, run));
        reads.push(this.read(task, run));
      }
    }
    await Promise.all(reads);
    for (const name of this.followed.keys()) if (!watched.has(name)) this.followed.delete(name);
  }

  private async read(task: Task, run: number): Promise<void> {
    const recorded = await this.options.readRun(task.id, run);
    if (!recorded || recorded.here || recorded.run.outcome !== 'running') return;
    const name = runKeyOf(task.id, run);
    let followed = this.followed.get(name);
    if (!followed) this.followed.set(name, (followed = fresh(run)));
    this.send(task.id, recorded.run, followed);
  }

  /** Hands the hub what `run`'s row holds beyond what was sent. */
  private send(taskId: string, run: Run, followed: Followed): void {
    const at = this.options.now();
    for (const stream of ['stdout', 'stderr'] as const) {
      for (const piece of unsentOutput(run[stream], followed.sent[stream])) {
        this.options.hub.output(taskId, run.run, stream, piece.offset, piece.bytes, at);
      }
      followed.sent[stream] = Math.max(followed.sent[stream], run[stream].totalBytes);
    }
    followed.live = { run: run.run, stdout: run.stdout, stderr: run.stderr };
  }
}

function fresh(run: number): Followed {
  const none: CapturedOutput = { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 };
  return { sent: { stdout: 0, stderr: 0 }, live: { run, stdout: none, stderr: none } };
}
