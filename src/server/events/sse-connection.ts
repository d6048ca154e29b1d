/**
 * One client of a Server-Sent Events stream. Once the route has handed the request over,
 * the stream is written straight to the socket: a status line and headers, then frames, and
 * the connection closes when the stream ends (`connection: close`, so the body needs no
 * chunked framing). That makes an event for ten thousand watchers ten thousand plain socket
 * writes, each sent at once, rather than chunked writes that Node queues until the next tick.
 *
 * A client that stops reading is cut off, rather than letting the daemon buffer for it
 * without end: once the bytes queued for it have stayed over its bound for a grace period,
 * or at once past several times the bound. A client that reads but was sent a burst faster
 * than it could take it (a run printing megabytes, many chunks of which can be written in
 * one turn of the event loop) has its queue shrink again meanwhile, and is not cut: Redis
 * bounds its clients' output buffers the same way (a soft limit for some seconds, a hard
 * one at once). It can reconnect with Last-Event-ID and resume from the events the daemon
 * still retains.
 *
 * A fan-out (sendToAll) writes one shared buffer to every watcher in one loop: one write per
 * socket, and the cutting off of slow clients (a reset, a log line) left until the loop is
 * over, so that a slow client costs the others nothing but the check. With many watchers, a
 * helper thread and the main thread share the writes (parallel-writes.ts).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { maxSocketsPerHandOver, type ParallelWriter } from './parallel-writes.js';

/** One SSE frame: optional id, event name, one line of JSON data. */
export function sseFrame(id: string | undefined, event: string, data: unknown): string {
  // JSON.stringify never emits a raw newline, so the data is one `data:` line.
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line, ignored by clients: it keeps idle connections open through proxies. */
export const heartbeatFrame = Buffer.from(': keep-alive\n\n');

/** How long clients wait before reconnecting after the stream drops, in milliseconds. */
const reconnectDelayMs = 1000;

const head = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'content-type: text/event-stream; charset=utf-8\r\n' +
    'cache-control: no-cache\r\n' +
    // nginx and others buffer responses unless told not to: events must pass at once.
    'x-accel-buffering: no\r\n' +
    'connection: close\r\n' +
    '\r\n' +
    `retry: ${reconnectDelayMs}\n\n`,
);

/** A client may have this many times its bound queued for a moment (a burst); past it, it is cut at once. */
export const burstFactor = 8;

/** How long a client may stay over its bound, and the clock that tells. */
export interface SlowClientGrace {
  graceMs: number;
  now: () => number;
}

/** Five seconds: a client that reads catches up with a burst well within that. */
export const defaultSlowClientGrace: SlowClientGrace = { graceMs: 5_000, now: () => performance.now() };

/** A stream being sent to one client. */
export class SseConnection {
  private readonly socket: Socket | null;
  private ended: boolean;
  /** Bytes that may be queued before the client counts as too slow. */
  private allowance: number;
  /** Since when more than the allowance has been queued, as last seen; undefined while it is not. */
  private overSince: number | undefined;

  constructor(
    response: ServerResponse,
    /** Bytes that may wait in the socket's queue, for more than a moment, before the client counts as too slow. */
    maxQueuedBytes: number,
    private readonly onCut: (queuedBytes: number) => void,
    private readonly grace: SlowClientGrace = defaultSlowClientGrace,
  ) {
    this.socket = response.socket;
    this.allowance = maxQueuedBytes;
    // The client may have gone while the stream was being set up: its 'close' has passed.
    this.ended = this.socket === null || this.socket.destroyed || !this.socket.writable;
    this.socket?.once('close', () => {
      this.ended = true;
    });
  }

  /** Writes the status line and headers of the stream. */
  open(): void {
    if (!this.ended) this.socket!.write(head);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Calls `listener` once the client has gone (or was cut off). */
  onClose(listener: () => void): void {
    if (this.ended || !this.socket) listener();
    else this.socket.once('close', listener);
  }

  /**
   * Sends what a client gets as it connects (a replay of missed events, or the output so
   * far of a run): it may be large, and is bounded by the hub, so it raises the client's
   * allowance instead of counting against it.
   */
  sendInitial(frame: Buffer | string): void {
    if (this.ended) return;
    this.socket!.write(frame);
    this.allowance += frame.length;
  }

  /**
   * Sends a frame (the rest of it, when a helper thread wrote its first `alreadyWritten`
   * bytes); true when the client is too slow (see the module's comment): it gets nothing
   * more, and cut() must follow (sendToAll leaves that until every watcher has been written to).
   */
  write(frame: Buffer, alreadyWritten = 0): boolean {
    if (this.ended) return false;
    const socket = this.socket!;
    if (alreadyWritten < frame.length) socket.write(alreadyWritten === 0 ? frame : frame.subarray(alreadyWritten));
    const queued = socket.writableLength;
    if (queued <= this.allowance) {
      this.overSince = undefined;
      return false;
    }
    const now = this.grace.now();
    this.overSince ??= now;
    if (queued <= burstFactor * this.allowance && now - this.overSince < this.grace.graceMs) return false;
    this.ended = true;
    return true;
  }

  /**
   * The socket's file descriptor if a helper thread may write to it now (see
   * parallel-writes.ts): a plain socket, open, with nothing queued; -1 otherwise.
   */
  descriptorForHelper(): number {
    const socket = this.socket;
    if (this.ended || socket === null || socket instanceof TLSSocket || socket.writableLength !== 0) return -1;
    const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  }

  /** Sends nothing more: cut() must follow. */
  abandon(): void {
    this.ended = true;
  }

  /** Cuts off a client that write() found too slow. */
  cut(): void {
    const socket = this.socket!;
    this.onCut(socket.writableLength);
    // A reset, not a close: the client must see that the stream was cut, not that it
    // ended (a close-delimited body cannot tell them apart), and the bytes queued for it
    // are dropped at once.
    socket.resetAndDestroy();
  }

  /** Ends the stream normally: the connection closes once what is queued has been sent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket!.end();
  }
}

/**
 * Writes `frame` to every connection of `connections`, in their order, then cuts off those
 * that have too much waiting. The same bytes go to every socket.
 */
export function sendToAll(connections: ReadonlySet<SseConnection> | readonly SseConnection[], frame: Buffer, helper?: ParallelWriter): void {
  const slow: SseConnection[] = [];
  const count = 'size' in connections ? connections.size : connections.length;
  if (helper?.suits(count, frame.length)) writeWithHelper(connections, frame, helper, slow);
  else for (const connection of connections) if (connection.write(frame)) slow.push(connection);
  for (const connection of slow) connection.cut();
}

/**
 * sendToAll with a helper thread (parallel-writes.ts): every connection that can take a direct
 * write is handed over, and both threads write those; the main thread then writes the others
 * through their sockets, and finishes what a direct write left (a full buffer, an error).
 */
function writeWithHelper(connections: Iterable<SseConnection>, frame: Buffer, helper: ParallelWriter, slow: SseConnection[]): void {
  const handed: SseConnection[] = [];
  const fds: number[] = [];
  const own: SseConnection[] = [];
  for (const connection of connections) {
    const fd = handed.length < maxSocketsPerHandOver ? connection.descriptorForHelper() : -1;
    if (fd < 0) own.push(connection);
    else {
      handed.push(connection);
      fds.push(fd);
    }
  }
  const written = helper.write(frame, fds);
  for (const connection of own) if (connection.write(frame)) slow.push(connection);
  for (let index = 0; index < handed.length; index++) {
    const connection = handed[index]!;
    if (written === undefined) {
      // Whether the helper wrote to it is unknown: the stream cannot go on in order. Its
      // client reconnects and resumes from the last event it has.
      connection.abandon();
      slow.push(connection);
    } else if (connection.write(frame, written[index]!)) slow.push(connection);
  }
}
