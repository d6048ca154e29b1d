/**
 * A minimal Server-Sent Events client over node:http, for the tests of a task's live event
 * stream (GET /api/tasks/{id}/events). It keeps every event it receives (with its id), the
 * comment lines (heartbeats), and whether the daemon ended the stream; the test can cut the
 * connection at any moment and open another with Last-Event-ID. Nothing here reconnects by
 * itself: that is the tests' business.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { waitFor } from './harness.js';

/** One event as received. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  /** The tests read the fields they know; the protocol's types are in src/protocol/events.ts. */
  data: any;
}

/** An output event's data (src/protocol/events.ts OutputEvent). */
export interface OutputData {
  run: number;
  stream: 'stdout' | 'stderr';
  offset: number;
  bytes: number;
  at: string;
  text: string;
}

/** One open (or finished) stream. */
export class SseStream {
  readonly events: SseEvent[] = [];
  /** Comment lines, without the colon (e.g. " keep-alive"). */
  readonly comments: string[] = [];
  /** True once the daemon ended the response normally. */
  ended = false;
  /** True once the connection is gone, for whatever reason. */
  closed = false;
  /** The body of a response that was not a stream (e.g. 204 or an error). */
  body = '';
  private pending = '';
  private readonly finished: Promise<void>;

  private constructor(
    readonly status: number,
    readonly headers: IncomingMessage['headers'],
    private readonly req: ClientRequest,
    private readonly res: IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (status !== 200) {
        this.body += chunk;
        return;
      }
      this.pending += chunk;
      let end: number;
      while ((end = this.pending.indexOf('\n\n')) >= 0) {
        this.parseBlock(this.pending.slice(0, end));
        this.pending = this.pending.slice(end + 2);
      }
    });
    this.finished = new Promise((resolve) => {
      res.on('end', () => {
        this.ended = true;
      });
      res.on('close', () => {
        this.closed = true;
        resolve();
      });
      res.on('error', () => undefined); // a connection we cut: 'close' follows
    });
  }

  /** Opens `url`; resolves once the response's headers have come. */
  static open(url: string, options: { lastEventId?: string; token?: string } = {}): Promise<SseStream> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    return new Promise((resolve, reject) => {
      // agent: false: a connection of its own, so that cutting it cuts nothing else.
      const req = request(url, { headers, agent: false }, (res) => resolve(new SseStream(res.statusCode ?? 0, res.headers, req, res)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Cuts the connection, as a client that goes away would. */
  close(): Promise<void> {
    this.req.destroy();
    return this.finished;
  }

  /** Resolves once the connection is gone (the daemon ended it, or it was cut). */
  async done(timeoutMs = 10_000): Promise<void> {
    await waitFor('the event stream to close', () => this.closed, { timeoutMs, describe: () => this.describe() });
  }

  /** The events named `name`. */
  named(name: string): SseEvent[] {
    return this.events.filter((event) => event.event === name);
  }

  /** The output events' data, in the order received. */
  output(): OutputData[] {
    return this.named('output').map((event) => event.data as OutputData);
  }

  /** The id of the last event that had one. */
  lastId(): string | undefined {
    return this.events.filter((event) => event.id !== undefined).at(-1)?.id;
  }

  /** Polls until `check` holds for this stream; fails with every event received so far. */
  waitUntil(what: string, check: (stream: SseStream) => boolean, timeoutMs = 10_000): Promise<true> {
    return waitFor(what, () => check(this) || undefined, { timeoutMs, describe: () => this.describe() });
  }

  /** What the stream holds, for failure messages. */
  describe(): unknown {
    return {
      status: this.status,
      ended: this.ended,
      closed: this.closed,
      body: this.body,
      events: this.events.map((event) => ({ id: event.id, event: event.event, data: event.data })),
    };
  }

  private parseBlock(block: string): void {
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1));
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (event === undefined || data.length === 0) return; // e.g. "retry: 1000"
    this.events.push({ id, event, data: JSON.parse(data.join('\n')) });
  }
}

/**
 * Joins the output chunks of one run and stream from several streams (e.g. before and after
 * a reconnection), failing on any gap or overlap: each chunk must begin where the previous
 * one ended, the first at 0. Returns the text.
 */
export function joinContiguous(chunks: OutputData[], run: number, stream: 'stdout' | 'stderr'): string {
  let next = 0;
  let text = '';
  for (const chunk of chunks.filter((c) => c.run === run && c.stream === stream)) {
    if (chunk.offset !== next) {
      throw new Error(
        `${stream} of run ${run}: a chunk begins at ${chunk.offset}, expected ${next} (${chunk.offset > next ? 'a gap' : 'a duplicate'})\n` +
          JSON.stringify(chunks, null, 1),
      );
    }
    if (Buffer.byteLength(chunk.text) !== chunk.bytes) throw new Error(`a chunk says ${chunk.bytes} bytes but holds ${Buffer.byteLength(chunk.text)}: ${JSON.stringify(chunk)}`);
    next += chunk.bytes;
    text += chunk.text;
  }
  return text;
}
