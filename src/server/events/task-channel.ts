/**
 * The retention side of the event hub: for one task, the recent events a reconnecting client
 * may resume from (dropped from the front as bounds require), and who is watching. The hub
 * decides the bounds and the fan-out; a channel only keeps what it is given.
 */
import type { OutputStream, Task } from '../../core/task.js';
import { inProgressRuns } from '../../protocol/events.js';
import type { StreamsTold } from './event-cursor.js';
import type { SseConnection } from './sse-connection.js';

/**
 * An event as retained. Its frame is encoded once, as bytes, for every client: at once when
 * the task has watchers, else only if a resuming client asks for it, so that the output of a
 * task nobody is watching now costs a reference to its bytes and nothing more.
 */
export class RetainedEvent {
  private frame: Buffer | undefined;
  private make: (() => string) | undefined;

  private constructor(
    readonly seq: number,
    /** Bytes counted against the bounds: the frame's, or an estimate until it is encoded. */
    public size: number,
  ) {}

  /** An event whose frame is encoded now (the task has watchers). */
  static encoded(seq: number, frame: string): RetainedEvent {
    const event = new RetainedEvent(seq, 0);
    event.frame = Buffer.from(frame);
    event.size = event.frame.length;
    return event;
  }

  /** An event encoded only if a resuming client asks for it; `estimate` stands for its size until then. */
  static deferred(seq: number, estimate: number, make: () => string): RetainedEvent {
    const event = new RetainedEvent(seq, estimate);
    event.make = make;
    return event;
  }

  /** The frame, encoding it on first use; `grew` is how much that changed the event's size. */
  encode(): { frame: Buffer; grew: number } {
    if (this.frame) return { frame: this.frame, grew: 0 };
    this.frame = Buffer.from(this.make!());
    this.make = undefined;
    const grew = this.frame.length - this.size;
    this.size = this.frame.length;
    return { frame: this.frame, grew };
  }
}

/** What the hub keeps for one task: its recent events, its watchers, and the task as last seen. */
export class TaskChannel {
  /** Retained events, oldest first, from index `first` on (dropping from the front costs nothing). */
  private events: Array<RetainedEvent | undefined> = [];
  private first = 0;
  bytes = 0;
  readonly watchers = new Set<SseConnection>();
  /** The task as of its last change seen here. */
  task: Task | undefined;
  /** Bytes of each stream of the runs in progress told so far (for the ids' cursors on a shared store). */
  readonly sent = new Map<number, StreamsTold>();
  /** Opens in progress: a pinned channel is not evicted. */
  pins = 0;
  lastUsed: number;

  /** Every event of this task with a greater sequence number is retained. */
  constructor(
    public completeAfter: number,
    now: number,
  ) {
    this.lastUsed = now;
  }

  /** Remembers the newer of the task it has and `task`. */
  observe(task: Task): void {
    if (!this.task || task.version > this.task.version) this.task = task;
  }

  /** Notes that `stream` of `run` has been told up to byte `end`. */
  told(run: number, stream: OutputStream, end: number): void {
    let sent = this.sent.get(run);
    if (!sent) this.sent.set(run, (sent = { stdout: 0, stderr: 0 }));
    sent[stream] = Math.max(sent[stream], end);
  }

  /** Forgets the output told of runs no longer in progress. */
  forgetEndedRuns(): void {
    if (this.sent.size === 0) return;
    const inProgress = new Set(this.task ? inProgressRuns(this.task) : []);
    for (const run of this.sent.keys()) if (!inProgress.has(run)) this.sent.delete(run);
  }

  get size(): number {
    return this.events.length - this.first;
  }

  retain(event: RetainedEvent): void {
    this.events.push(event);
    this.bytes += event.size;
  }

  /** Drops the oldest event; returns its size. */
  dropOldest(): number {
    const dropped = this.events[this.first]!;
    // Cleared, not only skipped: a dropped event must not stay reachable until compaction.
    this.events[this.first++] = undefined;
    this.completeAfter = dropped.seq;
    this.bytes -= dropped.size;
    if (this.first > 1024 && this.first * 2 > this.events.length) {
      this.events = this.events.slice(this.first);
      this.first = 0;
    }
    return dropped.size;
  }

  /** The frames of the retained events after sequence number `seq`; `grew` as in RetainedEvent.encode. */
  framesAfter(seq: number): { frames: Buffer[]; grew: number } {
    let index = this.first;
    while (index < this.events.length && this.events[index]!.seq <= seq) index++;
    const frames: Buffer[] = [];
    let grew = 0;
    for (const event of this.events.slice(index)) {
      const encoded = event!.encode();
      frames.push(encoded.frame);
      grew += encoded.grew;
    }
    this.bytes += grew;
    return { frames, grew };
  }
}
