/**
 * One client of a Server-Sent Events stream, over Node's raw response. Frames are written
 * as they come; a client that stops reading is cut off once the bytes queued for it pass a
 * bound, rather than letting the daemon buffer for it without end. It can reconnect with
 * Last-Event-ID and resume from the events the daemon still retains.
 */
import type { ServerResponse } from 'node:http';

/** One SSE frame: optional id, event name, one line of JSON data. */
export function sseFrame(id: string | undefined, event: string, data: unknown): string {
  // JSON.stringify never emits a raw newline, so the data is one `data:` line.
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line, ignored by clients: it keeps idle connections open through proxies. */
export const heartbeatFrame = ': keep-alive\n\n';

/** How long clients wait before reconnecting after the stream drops, in milliseconds. */
const reconnectDelayMs = 1000;

/** A stream being sent to one client. */
export class SseConnection {
  private ended = false;
  /** Bytes that may be queued before the client counts as too slow. */
  private allowance: number;

  constructor(
    private readonly response: ServerResponse,
    /** Bytes that may wait in the socket's queue before the client counts as too slow. */
    maxQueuedBytes: number,
    private readonly onCut: (queuedBytes: number) => void,
  ) {
    this.allowance = maxQueuedBytes;
    // The client may have gone while the stream was being set up: its 'close' has passed.
    this.ended = response.destroyed || response.socket === null || response.socket.destroyed;
    response.once('close', () => {
      this.ended = true;
    });
  }

  /** Writes the status line and headers of the stream. */
  open(): void {
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // nginx and others buffer responses unless told not to: events must pass at once.
      'x-accel-buffering': 'no',
    });
    this.response.write(`retry: ${reconnectDelayMs}\n\n`);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Calls `listener` once the client has gone (or was cut off). */
  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.response.once('close', listener);
  }

  /**
   * Sends what a client gets as it connects (a replay of missed events, or the output so
   * far of a run): it may be large, and is bounded by the hub, so it raises the client's
   * allowance instead of counting against it.
   */
  sendInitial(frame: Buffer | string): void {
    if (this.ended) return;
    this.response.write(frame);
    this.allowance += frame.length;
  }

  /** Sends a frame; cuts the client off if too much is already waiting for it. */
  send(frame: Buffer | string): void {
    if (this.ended) return;
    this.response.write(frame);
    const queued = this.response.writableLength;
    if (queued > this.allowance) {
      this.ended = true;
      this.onCut(queued);
      this.response.destroy();
    }
  }

  /** Ends the stream normally. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.response.end();
  }
}
