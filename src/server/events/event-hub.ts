/**
 * The live event streams of tasks (GET /api/tasks/{id}/events). It listens to the engine's
 * activity and fans each event out to the task's watchers, serialised once for all of them:
 * the events of one change (two or three: a run ends, the status moves) become one buffer,
 * and every watcher's socket gets that same buffer in one write (sendToAll).
 *
 * Resuming: every event gets an id `EPOCH-SEQ`, where SEQ grows across all tasks and EPOCH
 * names this run of the daemon. A task that has, or recently had, watchers has a channel
 * that retains its recent events; a client reconnecting with Last-Event-ID gets every event
 * after that id, without gap or duplicate, if the channel still holds them all. Otherwise
 * it is told so with a `pruned` event and starts over from a snapshot. Tasks nobody watches
 * have no channel and cost nothing here.
 *
 * When several nodes share the store (`clusterResume` set), ids are `EPOCH-SEQ.CURSOR`: the
 * cursor says where the stream stood in terms of the database (the task's version, and the
 * bytes of output told of each run in progress; event-cursor.ts), so that another node, or
 * this one after a restart, resumes from it by reading the task and its runs: the missed
 * output, the events rebuilt from the task as told and as it is now, then live. The daemon
 * that gave an id out still resumes from its retained events, exactly. Other nodes' changes
 * reach the hub through changedElsewhere (daemon/cluster-watch.ts).
 *
 * Memory is bounded three ways: events retained per task (count and bytes), bytes retained
 * by all channels together (idle channels are evicted first), and bytes queued per client
 * (a client that does not read is cut off; see SseConnection).
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { SchedulerError } from '../../core/errors.js';
import type { LiveOutput, OutputStream, Run, Task } from '../../core/task.js';
import type { Effect } from '../../core/transition.js';
import { asTold, catchUpEvents, changeEvents, isFinal, outputEvent, snapshotEvent, type NamedEvent } from '../../protocol/events.js';
import { encodeCursor, parseCursor, type StreamCursor } from './event-cursor.js';
import { liveOutputEvents } from './live-output-events.js';
import { unsentOutput } from './output-windows.js';
import { defaultParallelWriterOptions, ParallelWriter, type ParallelWriterOptions } from './parallel-writes.js';
import { defaultSlowClientGrace, heartbeatFrame, sendToAll, sseFrame, SseConnection } from './sse-connection.js';
import { RetainedEvent, TaskChannel } from './task-channel.js';

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
  /**
   * Bytes that may queue for one client: a client over it for slowClientGraceMs, or over
   * burstFactor times it at any moment, is cut off (sse-connection.ts).
   */
  maxQueuedBytesPerClient: number;
  /** How long a client may stay over maxQueuedBytesPerClient (it is reading a burst) before it is cut off. */
  slowClientGraceMs: number;
  /** When a helper thread writes a share of a fan-out. */
  parallelWrites: ParallelWriterOptions;
  log: { info(details: object, message: string): void };
  /** The clock retention and replay read (the daemon's, or a test's); the host's when absent. */
  now?: () => number;
}

export const defaultEventHubOptions = {
  heartbeatMs: 15_000,
  retainMs: 5 * 60_000,
  maxEventsPerTask: 10_000,
  maxBytesPerTask: 1024 * 1024,
  maxBytesTotal: 64 * 1024 * 1024,
  maxQueuedBytesPerClient: 1024 * 1024,
  slowClientGraceMs: defaultSlowClientGrace.graceMs,
  parallelWrites: defaultParallelWriterOptions,
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
 * What resuming on another node needs, when several nodes share the store (see
 * event-cursor.ts): the task and its runs as recorded, and the output of a run executing on
 * another node as this node's streams follow it.
 */
export interface ClusterResume {
  read(taskId: string): Promise<{ task: Task; runs: Run[] } | undefined>;
  /**
   * Brings the task's watchers here up to date with the store (what other nodes changed may
   * not have been relayed yet), so that a stream opening now starts from no older a version
   * than its client may have just read from the store.
   */
  refresh(taskId: string): Promise<void>;
  /** The output of run `run` (executing elsewhere) as streams here are told of it, following it from `recorded` if none are yet. */
  followFrom(taskId: string, recorded: Run): LiveOutput;
}

/**
 * The task event streams of one daemon. The engine reports its activity here (it fits the
 * engine's TaskActivity): changes, output chunks and deletions.
 */
export class EventHub {
  /** Names this run of the daemon: an id from an earlier run cannot be resumed from. */
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  /** In least recently used order: re-inserted on every use. */
  private readonly channels = new Map<string, TaskChannel>();
  private totalBytes = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;
  /** Writes a share of a fan-out to many watchers (parallel-writes.ts); started once some task has that many, then kept (an idle one waits on a word, costing no CPU). */
  private helper: ParallelWriter | undefined;
  /** The helper thread could not be made: not tried again at every watcher that comes. */
  private helperRefused = false;
  /**
   * The output so far of a run executing on another node, as this node last read it (set
   * when the store is shared: see RemoteOutputFollower); a stream opening gets it as the
   * output of a run in progress.
   */
  outputElsewhere: ((taskId: string, run: number) => LiveOutput | undefined) | undefined;
  /** Set when the store is shared: ids then carry a cursor, and a stream resumes from another node's id. */
  clusterResume: ClusterResume | undefined;

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
    // A version the channel has seen already (its stream's snapshot read it, or another
    // node's change reported it first) has been told.
    if (!channel || (channel.task && task.version <= channel.task.version)) return;
    this.publishChange(task, channel, changeEvents(task, previous, effect, runWaits));
  }

  /** The task as its watchers here were last told of it; undefined when nobody watches it here. */
  lastTold(taskId: string): Task | undefined {
    return this.channels.get(taskId)?.task;
  }

  /**
   * `task` was changed by another node (one change or several since the version told last):
   * its watchers here get the events rebuilt from the task before and after, and its runs.
   */
  changedElsewhere(task: Task, runs: readonly Run[]): void {
    const channel = this.channels.get(task.id);
    if (!channel?.task || task.version <= channel.task.version) return;
    this.publishChange(task, channel, catchUpEvents(task, asTold(channel.task), runs));
  }

  /** The tasks being watched here now that have runs in progress, as last seen. */
  watchedExecuting(): Task[] {
    const tasks: Task[] = [];
    for (const channel of this.channels.values()) {
      if (channel.watchers.size > 0 && channel.task?.state.status === 'Executing') tasks.push(channel.task);
    }
    return tasks;
  }

  private publishChange(task: Task, channel: TaskChannel, events: readonly NamedEvent[]): void {
    channel.observe(task);
    channel.forgetEndedRuns();
    // Each event is retained on its own (a client may resume between two of them), but the
    // watchers get the change's events in one buffer, one write each: the fewer writes, the
    // sooner the last of many watchers has it.
    const frames = events.map((event) => this.record(task.id, channel, event));
    if (frames.length > 0) sendToAll(channel.watchers, frames.length === 1 ? frames[0]! : Buffer.concat(frames), this.helper);
    if (isFinal(task.state.status)) for (const watcher of channel.watchers) watcher.end();
  }

  output(taskId: string, run: number, stream: OutputStream, offset: number, chunk: Buffer, at: number): void {
    const channel = this.channels.get(taskId);
    if (!channel) return;
    channel.told(run, stream, offset + chunk.length);
    if (channel.watchers.size > 0) return this.publish(taskId, channel, outputEvent(run, stream, offset, chunk, at));
    // Nobody is watching now: keep the chunk for a client that resumes, encode it only then.
    const id = this.nextId(channel);
    const retained = RetainedEvent.deferred(this.seq, chunk.length + outputFrameOverhead, () => this.frame(id, outputEvent(run, stream, offset, chunk, at)));
    channel.retain(retained);
    this.totalBytes += retained.size;
    this.touch(taskId, channel);
    this.bound(channel);
  }

  deleted(taskId: string): void {
    const channel = this.channels.get(taskId);
    if (!channel) return;
    const frame = Buffer.from(sseFrame(`${this.epoch}-${++this.seq}`, 'deleted', { id: taskId }));
    sendToAll(channel.watchers, frame, this.helper);
    for (const watcher of channel.watchers) watcher.end();
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
    const elsewhere = this.cursorFromElsewhere(lastEventId);
    const channel = this.channelFor(taskId);
    let recorded: { task: Task; runs: Run[] } | undefined;
    channel.pins++;
    try {
      if (this.clusterResume && channel.task) await this.clusterResume.refresh(taskId);
      if (elsewhere) recorded = await this.clusterResume!.read(taskId);
      if (!channel.task) channel.observe(recorded?.task ?? (await params.load()));
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
    // Resumable from another daemon's id when this node's watchers know the task as it was read.
    if (elsewhere && recorded && task.version === recorded.task.version) {
      return this.resumeFromCursor(params, channel, elsewhere, recorded.runs);
    }
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
    const outputs = (snapshot.name === 'snapshot' ? snapshot.data.runs : []).flatMap((run) => params.liveOutput(run) ?? this.outputElsewhere?.(taskId, run) ?? []);
    for (const live of outputs) for (const stream of ['stdout', 'stderr'] as const) channel.told(live.run, stream, live[stream].totalBytes);
    connection.sendInitial(this.frame(this.currentId(channel), snapshot));
    for (const live of outputs) for (const event of liveOutputEvents(live, this.now())) connection.sendInitial(this.frame(undefined, event));
    return this.attach(taskId, channel, connection);
  }

  /**
   * Resumes a stream after an event another daemon sent (another node, or this one before a
   * restart), from the cursor in its id: the rest of the output of the runs it was told of,
   * the events rebuilt from the task as told and as it is now, the output of runs started
   * since; the last of them carries an id of this daemon's, from which it resumes exactly.
   */
  private resumeFromCursor(params: OpenStreamParams, channel: TaskChannel, cursor: StreamCursor, runs: readonly Run[]): 'streaming' | 'nothing-more' {
    const { taskId } = params;
    const task = channel.task!;
    const at = this.now();
    const outputOf = (run: Run): LiveOutput =>
      params.liveOutput(run.run) ?? (run.outcome === 'running' ? this.clusterResume!.followFrom(taskId, run) : { run: run.run, stdout: run.stdout, stderr: run.stderr });
    const outputEvents = (run: Run): NamedEvent[] => {
      const source = outputOf(run);
      const from = cursor.sent.get(run.run) ?? { stdout: 0, stderr: 0 };
      const events: NamedEvent[] = [];
      for (const stream of ['stdout', 'stderr'] as const) {
        for (const piece of unsentOutput(source[stream], from[stream])) events.push(outputEvent(run.run, stream, piece.offset, piece.bytes, at));
        if (run.outcome === 'running') channel.told(run.run, stream, source[stream].totalBytes);
      }
      return events;
    };
    const followed = runs.filter((run) => run.outcome !== 'skipped' && (cursor.sent.has(run.run) || run.run > cursor.lastRun));
    const events = [
      ...followed.filter((run) => run.outcome !== 'running').flatMap(outputEvents),
      ...(task.version > cursor.version ? catchUpEvents(task, cursor, runs) : []),
      ...followed.filter((run) => run.outcome === 'running').flatMap(outputEvents),
    ];
    if (events.length === 0 && isFinal(task.state.status)) return 'nothing-more';
    const connection = this.connect(params);
    events.forEach((event, index) => connection.sendInitial(this.frame(index === events.length - 1 ? this.currentId(channel) : undefined, event)));
    return this.attach(taskId, channel, connection);
  }

  /** The cursor of an id another daemon gave out, when this one can resume from it (the store is shared). */
  private cursorFromElsewhere(lastEventId: string | undefined): StreamCursor | undefined {
    if (!this.clusterResume || lastEventId === undefined) return undefined;
    const match = /^([0-9a-f]+)-\d{1,15}\.(.+)$/.exec(lastEventId);
    if (!match || match[1] === this.epoch) return undefined;
    return parseCursor(match[2]!);
  }

  /** Ends every stream (the daemon is shutting down). */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const channel of this.channels.values()) for (const watcher of channel.watchers) watcher.end();
    this.channels.clear();
    this.totalBytes = 0;
    void this.helper?.close();
    this.helper = undefined;
  }

  private connect(params: OpenStreamParams): SseConnection {
    params.takeOver();
    const connection = new SseConnection(
      params.response,
      this.options.maxQueuedBytesPerClient,
      (queued) => this.options.log.info({ task: params.taskId, queuedBytes: queued }, 'cut off an event stream client that does not keep up; it can resume with Last-Event-ID'),
      { graceMs: this.options.slowClientGraceMs, now: this.now },
    );
    connection.open();
    return connection;
  }

  private attach(taskId: string, channel: TaskChannel, connection: SseConnection): 'streaming' {
    if (connection.closed) return 'streaming'; // the client left while the stream was set up
    if (isFinal(channel.task!.state.status)) {
      connection.end();
      return 'streaming';
    }
    channel.watchers.add(connection);
    // Started once some task has this many watchers, not at its first fan-out, which would wait for the thread to start.
    if (channel.watchers.size >= this.options.parallelWrites.minSockets && !this.helper && !this.helperRefused) this.helper = this.startHelper();
    connection.onClose(() => {
      channel.watchers.delete(connection);
      channel.lastUsed = this.now();
    });
    this.touch(taskId, channel);
    return 'streaming';
  }

  /** The helper thread of large fan-outs; without one (a thread that cannot be made), the main thread writes them alone. */
  private startHelper(): ParallelWriter | undefined {
    try {
      return new ParallelWriter(this.options.parallelWrites);
    } catch (error) {
      this.helperRefused = true;
      this.options.log.info({ error: (error as Error)?.message }, 'no helper thread for writing to many watchers; the main thread writes alone');
      return undefined;
    }
  }

  /** Where a client asking to resume after `lastEventId` can resume, or why it cannot. */
  private resumePoint(lastEventId: string | undefined, channel: TaskChannel): { ok: true; seq: number } | { ok: false; reason: string } {
    if (lastEventId === undefined) return { ok: false, reason: 'no Last-Event-ID' };
    const match = /^([0-9a-f]+)-(\d{1,15})(?:\.[0-9A-Za-z._-]+)?$/.exec(lastEventId);
    if (match && match[1] !== this.epoch) return { ok: false, reason: 'another daemon sent that event (another node sharing the store, or this daemon before it restarted); only the daemon that sent it can resume after it' };
    const seq = Number(match?.[2]);
    if (!match || seq > this.seq) return { ok: false, reason: `"${lastEventId}" is not an event id this daemon gave out` };
    if (seq < channel.completeAfter) {
      return { ok: false, reason: 'the events after it are no longer retained (too many, too old, or nobody was watching the task)' };
    }
    return { ok: true, seq };
  }

  private publish(taskId: string, channel: TaskChannel, event: NamedEvent): void {
    sendToAll(channel.watchers, this.record(taskId, channel, event), this.helper);
  }

  /** Gives `event` the next id and retains it; returns its frame, encoded once for every watcher. */
  private record(taskId: string, channel: TaskChannel, event: NamedEvent): Buffer {
    const id = this.nextId(channel);
    const retained = RetainedEvent.encoded(this.seq, this.frame(id, event));
    const { frame } = retained.encode();
    channel.retain(retained);
    this.totalBytes += retained.size;
    this.touch(taskId, channel);
    this.bound(channel);
    return frame;
  }

  /** Brings the channel, then all channels, back within their bounds. */
  private bound(channel: TaskChannel): void {
    const { maxEventsPerTask, maxBytesPerTask, maxBytesTotal } = this.options;
    while (channel.size > maxEventsPerTask || channel.bytes > maxBytesPerTask) this.totalBytes -= channel.dropOldest();
    if (this.totalBytes > maxBytesTotal) this.shrink(channel);
  }

  /** Brings all retained bytes back within their bound: idle channels go first, then older events of busy ones. */
  private shrink(busy: TaskChannel): void {
    const { maxBytesTotal } = this.options;
    for (const [taskId, channel] of this.channels) {
      if (this.totalBytes <= maxBytesTotal) return;
      if (channel.watchers.size === 0 && channel.pins === 0 && channel !== busy) this.forget(taskId, channel);
    }
    while (this.totalBytes > maxBytesTotal && busy.size > 0) this.totalBytes -= busy.dropOldest();
  }

  private channelFor(taskId: string): TaskChannel {
    let channel = this.channels.get(taskId);
    if (!channel) {
      channel = new TaskChannel(this.seq, this.now());
      this.channels.set(taskId, channel);
    }
    return channel;
  }

  private touch(taskId: string, channel: TaskChannel): void {
    channel.lastUsed = this.now();
    this.channels.delete(taskId);
    this.channels.set(taskId, channel);
  }

  private forget(taskId: string, channel: TaskChannel): void {
    if (this.channels.get(taskId) !== channel) return;
    this.channels.delete(taskId);
    this.totalBytes -= channel.bytes;
  }

  /** Heartbeats every open stream, and forgets channels nobody has watched for a while. */
  private beat(): void {
    const idleSince = this.now() - this.options.retainMs;
    for (const [taskId, channel] of this.channels) {
      sendToAll(channel.watchers, heartbeatFrame, this.helper);
      if (channel.watchers.size === 0 && channel.pins === 0 && channel.lastUsed < idleSince) this.forget(taskId, channel);
    }
  }

  private nextId(channel: TaskChannel): string {
    ++this.seq;
    return this.currentId(channel);
  }

  /** The id of the last event given out, with the channel's cursor when the store is shared. */
  private currentId(channel: TaskChannel): string {
    const id = `${this.epoch}-${this.seq}`;
    if (!this.clusterResume || !channel.task) return id;
    return `${id}.${encodeCursor(asTold(channel.task), (run) => channel.sent.get(run))}`;
  }

  private frame(id: string | undefined, event: NamedEvent): string {
    return sseFrame(id, event.name, event.data);
  }
}
