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

/** What a request for a stream brings. */
export interface OpenStreamParams {
  taskId: string;
  /** The Last-Event-ID header (or query parameter) of a reconnecting client. */
  lastEventId: string | undefined;
  response: ServerResponse;
  /** Reads the task; throws not_found when there is none. */
  load(): Promise<Task>;
  /** The output of the task's run in progress so far. */
  liveOutput(): LiveOutput | undefined;
  /** Called just before the stream's first byte: the route hands the response over to the hub. */
  takeOver(): void;
}

interface RetainedEvent {
  seq: number;
  frame: string;
}

/** What the hub keeps for one task. */
class Channel {
  /** Retained events, oldest first, from index `first` on (dropping from the front costs nothing). */
  events: RetainedEvent[] = [];
  first = 0;
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

  /** Drops the oldest event; returns its size. */
  dropOldest(): number {
    const dropped = this.events[this.first++]!;
    this.completeAfter = dropped.seq;
    this.bytes -= dropped.frame.length;
    if (this.first > 1024 && this.first * 2 > this.events.length) {
      this.events = this.events.slice(this.first);
      this.first = 0;
    }
    return dropped.frame.length;
  }

  /** The retained events after sequence number `seq`. */
  after(seq: number): RetainedEvent[] {
    let index = this.first;
    while (index < this.events.length && this.events[index]!.seq <= seq) index++;
    return this.events.slice(index);
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

  changed(task: Task, previous: Task, effect: Effect | null): void {
    const channel = this.channels.get(task.id);
    if (!channel) return;
    channel.observe(task);
    for (const event of changeEvents(task, previous, effect)) this.publish(task.id, channel, event);
    if (isFinal(task.state.status)) for (const watcher of channel.watchers) watcher.end();
  }

  output(taskId: string, run: number, stream: OutputStream, offset: number, chunk: Buffer, at: number): void {
    const channel = this.channels.get(taskId);
    if (channel) this.publish(taskId, channel, outputEvent(run, stream, offset, chunk, at));
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
    // From here on everything is synchronous: no event can slip between what is sent and
    // the subscription.
    const task = channel.task!;
    const resume = this.resumePoint(lastEventId, channel);
    if (resume.ok) {
      const missed = channel.after(resume.seq);
      if (missed.length === 0 && isFinal(task.state.status)) return 'nothing-more';
      const connection = this.connect(params);
      for (const event of missed) connection.sendInitial(event.frame);
      return this.attach(taskId, channel, connection);
    }
    const connection = this.connect(params);
    if (lastEventId !== undefined) {
      connection.sendInitial(sseFrame(undefined, 'pruned', { lastEventId, reason: resume.reason }));
    }
    connection.sendInitial(this.frame(this.currentId(), snapshotEvent(task)));
    const live = params.liveOutput();
    if (live && task.state.status === 'Executing' && live.run === task.state.run) {
      for (const event of liveOutputEvents(live, this.now())) connection.sendInitial(this.frame(undefined, event));
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
    if (!match || Number(match[2]) > this.seq) return { ok: false, reason: `"${lastEventId}" is not an event id this daemon gave out` };
    if (match[1] !== this.epoch) return { ok: false, reason: 'the daemon restarted since that event; events from before the restart are not retained' };
    const seq = Number(match[2]);
    if (seq < channel.completeAfter) {
      return { ok: false, reason: 'the events after it are no longer retained (too many, too old, or nobody was watching the task)' };
    }
    return { ok: true, seq };
  }

  private publish(taskId: string, channel: Channel, event: NamedEvent): void {
    const frame = this.frame(this.nextId(), event);
    for (const watcher of channel.watchers) watcher.send(frame);
    channel.events.push({ seq: this.seq, frame });
    channel.bytes += frame.length;
    this.totalBytes += frame.length;
    const { maxEventsPerTask, maxBytesPerTask, maxBytesTotal } = this.options;
    while (channel.size > maxEventsPerTask || channel.bytes > maxBytesPerTask) this.totalBytes -= channel.dropOldest();
    this.touch(taskId, channel);
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
