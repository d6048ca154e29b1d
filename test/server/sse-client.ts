/**
 * A small Server-Sent Events client for server tests: it connects with node:http to a
 * listening app, parses the frames itself (events, comments, retry) and lets a test await
 * an event matching a predicate, or the end of the stream, each with a deadline.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { TaskEventData, TaskEventName } from '../../src/protocol/events.js';

/** One event as received. */
export interface SseEvent<Name extends TaskEventName = TaskEventName> {
  id: string | undefined;
  event: Name;
  data: TaskEventData[Name];
  /** The frame's text as it came over the wire, without the blank line that ends it. */
  raw: string;
}

export interface SseOptions {
  lastEventId?: string;
  token?: string;
  /** Keeps only the data of output events (their text dropped), for streams of megabytes. */
  dropOutputText?: boolean;
}

/** Where `app` listens, once it does. */
export function baseUrl(app: FastifyInstance): string {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the app does not listen on a TCP port');
  return `http://127.0.0.1:${address.port}`;
}

/** A connection to an event stream (or whatever else the URL answered). */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** Bytes of the body received so far. */
  bytes = 0;
  /** The body, for answers other than 200. */
  body = '';
  /** The response ended normally (the server ended the stream). */
  ended = false;
  /** The connection is gone (ended, cut off, or closed by the test). */
  closed = false;
  /** The response was received completely (false when the server cut the stream off). */
  complete = false;
  /** Called on each event as it is parsed. */
  onEvent: ((event: SseEvent) => void) | undefined;
  private pending = '';
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly response: IncomingMessage,
    private readonly options: SseOptions,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.bytes += Buffer.byteLength(chunk);
      if (response.statusCode === 200) this.feed(chunk);
      else this.body += chunk;
      this.notify();
    });
    response.on('end', () => {
      this.ended = true;
      this.notify();
    });
    response.on('error', () => undefined);
    response.on('close', () => {
      this.closed = true;
      this.complete = response.complete;
      this.notify();
    });
  }

  /** Connects to `path` of the listening `app`; resolves once the status line and headers are in. */
  static open(app: FastifyInstance, path: string, options: SseOptions = {}): Promise<SseClient> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    return new Promise((resolve, reject) => {
      // A socket of its own for each stream, as a browser's EventSource would have.
      const outgoing = request(`${baseUrl(app)}${path}`, { headers, agent: false }, (response) => resolve(new SseClient(response, options)));
      outgoing.on('error', reject);
      outgoing.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  /** The events named `name`. */
  named<Name extends TaskEventName>(name: Name): Array<SseEvent<Name>> {
    return this.events.filter((event): event is SseEvent<Name> => event.event === name);
  }

  /** The events after the one with id `id` (all of them if none has it). */
  after(id: string): SseEvent[] {
    const index = this.events.findIndex((event) => event.id === id);
    if (index < 0) throw new Error(`no event with id ${id} among ${this.describe()}`);
    return this.events.slice(index + 1);
  }

  /** The first event (from `from` on) that is named `name` and satisfies `match`; waits for it until the deadline. */
  async waitForEvent<Name extends TaskEventName>(
    name: Name,
    match: (data: TaskEventData[Name], event: SseEvent<Name>) => boolean = () => true,
    options: { timeoutMs?: number; from?: number } = {},
  ): Promise<SseEvent<Name>> {
    const find = () =>
      this.events.slice(options.from ?? 0).find((event): event is SseEvent<Name> => event.event === name && match(event.data as TaskEventData[Name], event as SseEvent<Name>));
    return this.waitUntil(find, `an event "${name}" matching ${match.toString()}`, options.timeoutMs);
  }

  /** Waits until `condition` returns something other than undefined or false. */
  async waitUntil<T>(condition: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
    const found = condition();
    if (found !== undefined && found !== false) return found;
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = condition();
        if (value !== undefined && value !== false) {
          cleanup();
          resolve(value);
        } else if (this.closed) {
          cleanup();
          reject(new Error(`the stream closed before ${what}; received: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`waited ${timeoutMs}ms for ${what}; received: ${this.describe()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Waits until the connection is gone; resolves with whether the server ended it normally. */
  async waitForClose(timeoutMs = 10_000): Promise<{ ended: boolean; complete: boolean }> {
    if (!this.closed) {
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!this.closed) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`waited ${timeoutMs}ms for the stream to close; received: ${this.describe()}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          this.waiters.delete(check);
        };
        this.waiters.add(check);
      });
    }
    return { ended: this.ended, complete: this.complete };
  }

  /** Stops reading: what the server sends queues up in the socket, then in the server. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
  }

  /** Drops the connection from this side. */
  close(): void {
    this.response.destroy();
    this.response.socket?.destroy();
  }

  /** A short account of what was received, for failure messages. */
  describe(): string {
    const names = this.events.map((event) => `${event.event}${event.id ? `#${event.id}` : ''}`);
    const shown = names.length > 40 ? [...names.slice(0, 20), '...', ...names.slice(-20)] : names;
    return `status ${this.status}, ${this.events.length} events [${shown.join(', ')}], ${this.comments.length} comments, closed ${this.closed}`;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private feed(chunk: string): void {
    this.pending += chunk;
    let end: number;
    while ((end = this.pending.indexOf('\n\n')) >= 0) {
      const block = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      this.parseBlock(block);
    }
  }

  private parseBlock(block: string): void {
    let id: string | undefined;
    let name: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry') this.retry = Number(value);
      else throw new Error(`unexpected SSE field in ${JSON.stringify(block.slice(0, 200))}`);
    }
    if (name === undefined && data.length === 0) return; // a comment, or retry alone
    if (name === undefined || data.length !== 1) throw new Error(`malformed SSE frame ${JSON.stringify(block.slice(0, 200))}`);
    const parsed = JSON.parse(data[0]!) as TaskEventData[TaskEventName];
    const keepText = !(this.options.dropOutputText && name === 'output');
    if (!keepText) (parsed as { text: string }).text = '';
    const event = { id, event: name as TaskEventName, data: parsed, raw: keepText ? block : '' } as SseEvent;
    this.events.push(event);
    this.onEvent?.(event);
  }
}

/** The sequence number of an event id `EPOCH-SEQ`. */
export function seqOf(id: string | undefined): number {
  const match = /^[0-9a-f]+-(\d+)$/.exec(id ?? '');
  if (!match) throw new Error(`"${id}" is not an event id`);
  return Number(match[1]);
}

/**
 * The output of `stream` received in `events`: its text, and the offsets where it starts and
 * ends. Throws unless each chunk begins where the previous one ended (no gap, no overlap).
 */
export function outputOf(events: SseEvent[], stream: 'stdout' | 'stderr', run?: number): { text: string; start: number; end: number; chunks: number } {
  let text = '';
  let start = 0;
  let bytes = -1;
  let chunks = 0;
  for (const event of events) {
    if (event.event !== 'output') continue;
    const data = event.data as TaskEventData['output'];
    if (data.stream !== stream || (run !== undefined && data.run !== run)) continue;
    if (bytes < 0) bytes = start = data.offset;
    if (data.offset !== bytes) throw new Error(`${stream} chunk at offset ${data.offset} where ${bytes} was expected`);
    if (data.text && Buffer.byteLength(data.text) !== data.bytes) throw new Error(`${stream} chunk at ${data.offset}: ${data.bytes} bytes announced, ${Buffer.byteLength(data.text)} sent`);
    bytes += data.bytes;
    text += data.text;
    chunks++;
  }
  return { text, start, end: Math.max(0, bytes), chunks };
}
