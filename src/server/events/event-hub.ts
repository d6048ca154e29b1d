/**
 * The live event streams of tasks (GET /api/tasks/{id}/events). It listens to the engine's
 * activity and fans each event out to the task's watchers, serialised once for all of them.
 *
 * Resuming: every event gets an id `EPOCH-SEQ`, where SEQ grows across all tasks and EPOCH
 * names this run of the daemon. A task that has, or recently had, watchers has a channel
 * that retains its recent events; a client reconnecting with Last-Event-ID gets every event
 * after that id, without gap or duplicate, if the channel still holds them all. Otherwise
 * it is told so with a `pruned` event and starts over from a snapshot. Tasks nobody watches
 * have no channel and cost nothing here.
 *
 * Memory is bounded three ways: events retained per task (count and bytes), bytes retained
 * by all channels together (idle channels are evicted first), and bytes queued per client
 * (a client that does not read is cut off; see SseConnection).
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { SchedulerError } from '../../core/errors.js';
import type { OutputStream, Task } from '../../core/task.js';
import type { Effect } from '../../core/transition.js';
import type { LiveOutput, TaskActivity } from '../../engine/task-activity.js';
import { changeEvents, isFinal, outputEvent, snapshotEvent, type NamedEvent } from '../../protocol/events.js';
import { heartbeatFrame, sseFrame, SseConnection } from './sse-connection.js';

/** The hub's bounds and timings. */
export interface EventHubOptions {
  /** Between two heartbeats on every open stream. */
  heartbeatMs: number;
  /** How long a channel is kept after its last watcher left, so that the watcher can resume. */
  retainMs: number;
  /** Events retained per task... */
  maxEventsPerTask: number;
  /** ...and their bytes (approximately: characters of their frames). */
  maxBytesPerTask: number;
  /** Bytes retained by all channels together. */
  maxBytesTotal: number;
  /** Bytes that may queue for one client before it is cut off. */
  maxQueuedBytesPerClient: number;
  log: { info(details: object, message: string): void };
  now?: () => number;
}

export const defaultEventHubOptions = {
  heartbeatMs: 15_000,
  retainMs: 5 * 60_000,
  maxEventsPerTask: 10_000,
  maxBytesPerTask: 1024 * 1024,
  maxBytesTotal: 64 * 1024 * 1024,
  maxQueuedBytesPerClient: 1024 * 1024,
} as const;

/** Roughly the bytes an output frame adds to its chunk (id, names, offsets, time). */
const outputFrameOverhead = 160;

/** What a request for a stream brings. */
export interface OpenStreamParams {
  taskId: string;
  /** The Last-Event-ID header (or query parameter) of a reconnecting client. */
  lastEventId: string | undefined;
  response: ServerResponse;
  /** Reads the task; throws not_found when there is none. */
  load(): Promise<Task>;
  /** The output so far of run `run` of the task, if it is in progress. */
  liveOutput(run: number): LiveOutput | undefined;
  /** Called just before the stream's first byte: the route hands the response over to the hub. */
  takeOver(): void;
}

/**
 * An event as retained. Its frame is encoded once, as bytes, for every client: at once when
 * the task has watchers, else only if a resuming client asks for it, so that the output of a
 * task nobody is watching now costs a reference to its bytes and nothing more.
 */
class RetainedEvent {
  private frame: Buffer | undefined;
  private make: (() => string) | undefined;

  private constructor(
    readonly seq: number,
    /** Bytes counted against the bounds: the frame's, or an estimate until it is encoded. */
    public size: number,
  ) {}

  static encoded(seq: number, frame: string): RetainedEvent {
    const event = new RetainedEvent(seq, 0);
    event.frame = Buffer.from(frame);
    event.size = event.frame.length;
    return event;
  }

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

/** What the hub keeps for one task. */
class Channel {
  /** Retained events, oldest first, from index `first` on (dropping from the front costs nothing). */
  private events: Array<RetainedEvent | undefined> = [];
  private first = 0;
  bytes = 0;
  readonly watchers = new Set<SseConnection>();
  /** The task as of its last change seen here. */
  task: Task | undefined;
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

/** The task event streams of one daemon. */
export class EventHub implements TaskActivity {
  /** Names this run of the daemon: an id from an earlier run cannot be resumed from. */
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  /** In least recently used order: re-inserted on every use. */
  private readonly channels = new Map<string, Channel>();
  private totalBytes = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: EventHubOptions) {
    this.now = options.now ?? Date.now;
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Open streams, for status and tests. */
  get watchers(): number {
    let count = 0;
    for (const channel of this.channels.values()) count += channel.watchers.size;
    return count;
  }

  /** Bytes retained by all channels, for status and tests. */
  get retainedBytes(): number {
    return this.totalBytes;
  }

  changed(task: Task, previous: Task, effect: Effect | null, runWaits = false): void {
    const channel = this.channels.get(task.id);
    if (!channel) return;
    channel.observe(task);
    // A change is two events or three (a run ends, the status moves): each watcher gets them
    // in one write, which halves the writes of a fan-out to many watchers.
    for (const watcher of channel.watchers) watcher.hold();
    for (const event of changeEvents(task, previous, effect, runWaits)) this.publish(task.id, channel, event);
    for (const watcher of channel.watchers) watcher.flush();
    if (isFinal(task.state.status)) for (const watcher of channel.watchers) watcher.end();
  }

  output(taskId: string, run: number, stream: OutputStream, offset: number, chunk: Buffer, at: number): void {
    const channel = this.channels.get(taskId);
    if (!channel) return;
    if (channel.watchers.size > 0) return this.publish(taskId, channel, outputEvent(run, stream, offset, chunk, at));
    // Nobody is watching now: keep the chunk for a client that resumes, encode it only then.
    const id = this.nextId();
    const retained = RetainedEvent.deferred(this.seq, chunk.length + outputFrameOverhead, () => this.frame(id, outputEvent(run, stream, offset, chunk, at)));
    channel.retain(retained);
    this.totalBytes += retained.size;
    this.touch(taskId, channel);
    this.bound(channel);
  }

  deleted(taskId: string): void {
    const channel = this.channels.get(taskId);
    if (!channel) return;
    const frame = sseFrame(this.nextId(), 'deleted', { id: taskId });
    for (const watcher of channel.watchers) {
      watcher.send(frame);
      watcher.end();
    }
    this.forget(taskId, channel);
  }

  /**
   * Serves a stream: resumes after `lastEventId` when every later event is retained, else
   * starts with a snapshot (after a `pruned` event when a resume was asked for). Returns
   * 'nothing-more' without touching the response when a resuming client would get nothing
   * now or ever (the task is final and it has seen everything): the route answers 204, which
   * tells an EventSource to stop reconnecting.
   */
  async open(params: OpenStreamParams): Promise<'streaming' | 'nothing-more'> {
    if (this.closed) throw new SchedulerError('shutting_down', 'the daemon is shutting down; start it again with "scheduler daemon"');
    const { taskId, lastEventId } = params;
    const channel = this.channelFor(taskId);
    channel.pins++;
    try {
      if (!channel.task) channel.observe(await params.load());
    } catch (error) {
      if (channel.watchers.size === 0 && channel.size === 0 && channel.pins === 1) this.forget(taskId, channel);
      throw error;
    } finally {
      channel.pins--;
    }
    // The task was deleted (or the hub closed) while it was being read.
    if (this.channels.get(taskId) !== channel) {
      if (this.closed) throw new SchedulerError('shutting_down', 'the daemon is shutting down; start it again with "scheduler daemon"');
      throw new SchedulerError('not_found', `task "${taskId}" was deleted`);
    }
    // From here on everything is synchronous: no event can slip between what is sent and
    // the subscription.
    const task = channel.task!;
    const resume = this.resumePoint(lastEventId, channel);
    if (resume.ok) {
      const missed = channel.framesAfter(resume.seq);
      this.totalBytes += missed.grew;
      if (missed.frames.length === 0 && isFinal(task.state.status)) return 'nothing-more';
      const connection = this.connect(params);
      for (const frame of missed.frames) connection.sendInitial(frame);
      this.attach(taskId, channel, connection);
      this.bound(channel);
      return 'streaming';
    }
    const connection = this.connect(params);
    if (lastEventId !== undefined) {
      connection.sendInitial(sseFrame(undefined, 'pruned', { lastEventId, reason: resume.reason }));
    }
    const snapshot = snapshotEvent(task);
    connection.sendInitial(this.frame(this.currentId(), snapshot));
    for (const run of snapshot.name === 'snapshot' ? snapshot.data.runs : []) {
      const live = params.liveOutput(run);
      if (live) for (const event of liveOutputEvents(live, this.now())) connection.sendInitial(this.frame(undefined, event));
    }
    return this.attach(taskId, channel, connection);
  }

  /** Ends every stream (the daemon is shutting down). */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const channel of this.channels.values()) for (const watcher of channel.watchers) watcher.end();
    this.channels.clear();
    this.totalBytes = 0;
  }

  private connect(params: OpenStreamParams): SseConnection {
    params.takeOver();
    const connection = new SseConnection(params.response, this.options.maxQueuedBytesPerClient, (queued) =>
      this.options.log.info({ task: params.taskId, queuedBytes: queued }, 'cut off an event stream client that does not keep up; it can resume with Last-Event-ID'),
    );
    connection.open();
    return connection;
  }

  private attach(taskId: string, channel: Channel, connection: SseConnection): 'streaming' {
    if (connection.closed) return 'streaming'; // the client left while the stream was set up
    if (isFinal(channel.task!.state.status)) {
      connection.end();
      return 'streaming';
    }
    channel.watchers.add(connection);
    connection.onClose(() => {
      channel.watchers.delete(connection);
      channel.lastUsed = this.now();
    });
    this.touch(taskId, channel);
    return 'streaming';
  }

  /** Where a client asking to resume after `lastEventId` can resume, or why it cannot. */
  private resumePoint(lastEventId: string | undefined, channel: Channel): { ok: true; seq: number } | { ok: false; reason: string } {
    if (lastEventId === undefined) return { ok: false, reason: 'no Last-Event-ID' };
    const match = /^([0-9a-f]+)-(\d{1,15})$/.exec(lastEventId);
    if (match && match[1] !== this.epoch) return { ok: false, reason: 'the daemon restarted since that event; events from before the restart are not retained' };
    const seq = Number(match?.[2]);
    if (!match || seq > this.seq) return { ok: false, reason: `"${lastEventId}" is not an event id this daemon gave out` };
    if (seq < channel.completeAfter) {
      return { ok: false, reason: 'the events after it are no longer retained (too many, too old, or nobody was watching the task)' };
    }
    return { ok: true, seq };
  }

  private publish(taskId: string, channel: Channel, event: NamedEvent): void {
    const id = this.nextId();
    const retained = RetainedEvent.encoded(this.seq, this.frame(id, event));
    const { frame } = retained.encode();
    for (const watcher of channel.watchers) watcher.send(frame);
    channel.retain(retained);
    this.totalBytes += retained.size;
    this.touch(taskId, channel);
    this.bound(channel);
  }

  /** Brings the channel, then all channels, back within their bounds. */
  private bound(channel: Channel): void {
    const { maxEventsPerTask, maxBytesPerTask, maxBytesTotal } = this.options;
    while (channel.size > maxEventsPerTask || channel.bytes > maxBytesPerTask) this.totalBytes -= channel.dropOldest();
    if (this.totalBytes > maxBytesTotal) this.shrink(channel);
  }

  /** Brings all retained bytes back within their bound: idle channels go first, then older events of busy ones. */
  private shrink(busy: Channel): void {
    const { maxBytesTotal } = this.options;
    for (const [taskId, channel] of this.channels) {
      if (this.totalBytes <= maxBytesTotal) return;
      if (channel.watchers.size === 0 && channel.pins === 0 && channel !== busy) this.forget(taskId, channel);
    }
    while (this.totalBytes > maxBytesTotal && busy.size > 0) this.totalBytes -= busy.dropOldest();
  }

  private channelFor(taskId: string): Channel {
    let channel = this.channels.get(taskId);
    if (!channel) {
      channel = new Channel(this.seq, this.now());
      this.channels.set(taskId, channel);
    }
    return channel;
  }

  private touch(taskId: string, channel: Channel): void {
    channel.lastUsed = this.now();
    this.channels.delete(taskId);
    this.channels.set(taskId, channel);
  }

  private forget(taskId: string, channel: Channel): void {
    if (this.channels.get(taskId) !== channel) return;
    this.channels.delete(taskId);
    this.totalBytes -= channel.bytes;
  }

  /** Heartbeats every open stream, and forgets channels nobody has watched for a while. */
  private beat(): void {
    const idleSince = this.now() - this.options.retainMs;
    for (const [taskId, channel] of this.channels) {
      for (const watcher of channel.watchers) watcher.send(heartbeatFrame);
      if (channel.watchers.size === 0 && channel.pins === 0 && channel.lastUsed < idleSince) this.forget(taskId, channel);
    }
  }

  private nextId(): string {
    return `${this.epoch}-${++this.seq}`;
  }

  private currentId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  private frame(id: string | undefined, event: NamedEvent): string {
    return sseFrame(id, event.name, event.data);
  }
}

/** The output so far of a run in progress, as output events: each stream's head, then its tail after the dropped bytes. */
function liveOutputEvents(live: LiveOutput, at: number): NamedEvent[] {
  const events: NamedEvent[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const { text, droppedBytes, droppedAt } = live[stream];
    if (text.length === 0) continue;
    if (droppedBytes === 0) {
      events.push(outputEvent(live.run, stream, 0, text, at));
      continue;
    }
    const bytes = Buffer.from(text);
    if (droppedAt > 0) events.push(outputEvent(live.run, stream, 0, bytes.subarray(0, droppedAt), at));
    if (bytes.length > droppedAt) events.push(outputEvent(live.run, stream, droppedAt + droppedBytes, bytes.subarray(droppedAt), at));
  }
  return events;
}
