/**
 * A Server-Sent Events client for the tests of a task's live event stream
 * (GET /api/tasks/{id}/events), shared by the server tests (an in-process app) and the e2e
 * tests (a daemon process). It speaks node:http and parses the frames itself, rather than use
 * the CLI's client, so that a test sees the wire: status and headers, every frame as sent,
 * comments, retry, and whether the server ended the stream or it was cut; and so that a test
 * can stop reading or cut the connection at any moment. Nothing reconnects by itself: that is
 * the tests' business. It imports nothing from src/, as the e2e tests import nothing from it.
 */
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An output event's data (src/protocol/events.ts OutputEvent), restated because e2e tests do not import src/. */
export interface OutputData {
  run: number;
  stream: 'stdout' | 'stderr';
  offset: number;
  bytes: number;
  at: string;
  text: string;
}

/** An event's data by name: output's is spelled out for the offset arithmetic; the tests read the others field by field. */
export type EventData<Name extends string> = Name extends 'output' ? OutputData : any;

/** One event as received; `Name` narrows `data` where a test knows which event it holds. */
export interface SseEvent<Name extends string = string> {
  id: string | undefined;
  event: Name;
  data: EventData<Name>;
  /** The frame's text as it came over the wire, without the blank line that ends it ('' when its text was dropped). */
  raw: string;
}

/** How to open a stream: where to resume, and with what token, as a client would. */
export interface SseOptions {
  lastEventId?: string | undefined;
  token?: string;
  /** Keeps only the data of output events (their text dropped), for streams of megabytes. */
  dropOutputText?: boolean;
}

/** What baseUrl needs of a Fastify app, said structurally so that this module needs neither fastify nor src/. */
export interface Listening {
  server: { address(): AddressInfo | string | null };
}

/** Where `app` listens, once it does: the server tests hold an app, not a URL. */
export function baseUrl(app: Listening): string {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the app does not listen on a TCP port');
  return `http://127.0.0.1:${address.port}`;
}

/** A connection to an event stream (or whatever else the URL answered), which keeps all it received. */
export class SseClient {
  readonly events: SseEvent[] = [];
  /** Comment lines, without the colon and trimmed (e.g. "keep-alive"). */
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
  private readonly gone: Promise<void>;

  private constructor(
    private readonly outgoing: ClientRequest,
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
    response.on('error', () => undefined); // a connection cut: 'close' follows
    this.gone = new Promise((resolve) => {
      response.on('close', () => {
        this.closed = true;
        this.complete = response.complete;
        this.notify();
        resolve();
      });
    });
  }

  /** Connects to `url`; resolves once the status line and headers are in. */
  static open(url: string, options?: SseOptions): Promise<SseClient>;
  /** Connects to `path` of the listening `app`, for tests that hold an app rather than a URL. */
  static open(app: Listening, path: string, options?: SseOptions): Promise<SseClient>;
  static open(target: string | Listening, pathOrOptions?: string | SseOptions, appOptions?: SseOptions): Promise<SseClient> {
    const url = typeof target === 'string' ? target : `${baseUrl(target)}${pathOrOptions as string}`;
    const options = (typeof target === 'string' ? (pathOrOptions as SseOptions | undefined) : appOptions) ?? {};
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    // An empty token is still sent: the tests check that it is refused like a wrong one.
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    return new Promise((resolve, reject) => {
      // agent: false: a socket of its own for each stream, as a browser's EventSource would
      // have, so that cutting or pausing one touches no other.
      const outgoing = request(url, { headers, agent: false }, (response) => resolve(new SseClient(outgoing, response, options)));
      outgoing.on('error', reject);
      outgoing.end();
    });
  }

  /** The response's status code (0 if it had none). */
  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The response's headers. */
  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  /** The events named `name`. */
  named<Name extends string>(name: Name): Array<SseEvent<Name>> {
    return this.events.filter((event): event is SseEvent<Name> => event.event === name);
  }

  /** The output events' data, in the order received. */
  output(): OutputData[] {
    return this.named('output').map((event) => event.data);
  }

  /** The id of the last event that had one: where a reconnection resumes. */
  lastId(): string | undefined {
    return this.events.filter((event) => event.id !== undefined).at(-1)?.id;
  }

  /** The events after the one with id `id`; throws if none has it. */
  after(id: string): SseEvent[] {
    const index = this.events.findIndex((event) => event.id === id);
    if (index < 0) throw new Error(`no event with id ${id} among ${this.describe()}`);
    return this.events.slice(index + 1);
  }

  /** The first event (from `from` on) that is named `name` and satisfies `match`; waits for it until the deadline. */
  waitForEvent<Name extends string>(
    name: Name,
    match: (data: EventData<Name>, event: SseEvent<Name>) => boolean = () => true,
    options: { timeoutMs?: number; from?: number } = {},
  ): Promise<SseEvent<Name>> {
    const find = () =>
      this.events.slice(options.from ?? 0).find((event): event is SseEvent<Name> => event.event === name && match(event.data, event as SseEvent<Name>));
    return this.until(find, `an event "${name}" matching ${match.toString()}`, options.timeoutMs ?? 10_000);
  }

  /** Waits until `condition` returns something other than undefined or false, and resolves with it. */
  waitUntil<T>(what: string, condition: (client: SseClient) => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    return this.until(() => condition(this), what, timeoutMs);
  }

  /** Waits until the connection is gone; resolves with whether the server ended it normally. */
  async waitForClose(timeoutMs = 10_000): Promise<{ ended: boolean; complete: boolean }> {
    await this.until(() => this.closed, 'the stream to close', timeoutMs);
    return { ended: this.ended, complete: this.complete };
  }

  /** Stops reading: what the server sends queues up in the socket, then in the server. */
  pause(): void {
    this.response.pause();
  }

  /** Reads again after pause(). */
  resume(): void {
    this.response.resume();
  }

  /** Cuts the connection, as a client that goes away would; resolves once it is gone. */
  close(): Promise<void> {
    this.outgoing.destroy();
    this.response.destroy();
    return this.gone;
  }

  /** A short account of what was received, for failure messages. */
  describe(): string {
    const names = this.events.map((event) => `${event.event}${event.id ? `#${event.id}` : ''}`);
    const shown = names.length > 40 ? [...names.slice(0, 20), '...', ...names.slice(-20)] : names;
    const body = this.body ? `, body ${JSON.stringify(this.body.slice(0, 500))}` : '';
    return `status ${this.status}, ${this.events.length} events [${shown.join(', ')}], ${this.comments.length} comments, ended ${this.ended}, closed ${this.closed}${body}`;
  }

  /**
   * Resolves once `condition` returns something other than undefined or false, checked now and
   * on each thing the connection receives (so no polling); rejects if it throws, if the
   * connection is gone first, or at the deadline, with what was received.
   */
  private until<T>(condition: () => T | undefined | false, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let value: T | undefined | false;
        try {
          value = condition();
        } catch (error) {
          finish();
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (value !== undefined && value !== false) {
          finish();
          resolve(value);
        } else if (this.closed) {
          finish();
          reject(new Error(`the stream closed before ${what}; received: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`waited ${timeoutMs}ms for ${what}; received: ${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
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

  /** Parses one frame strictly: the daemon's frames are part of what the tests check. */
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
    const parsed: unknown = JSON.parse(data[0]!);
    const keepText = !(this.options.dropOutputText && name === 'output');
    if (!keepText) (parsed as OutputData).text = '';
    const event: SseEvent = { id, event: name, data: parsed, raw: keepText ? block : '' };
    this.events.push(event);
    this.onEvent?.(event);
  }
}

/** The sequence number of an event id `EPOCH-SEQ`, for comparing the order of ids. */
export function seqOf(id: string | undefined): number {
  const match = /^[0-9a-f]+-(\d+)$/.exec(id ?? '');
  if (!match) throw new Error(`"${id}" is not an event id`);
  return Number(match[1]);
}

/**
 * The output of `stream` (of run `run`, if given) in `events`: its text, and the offsets where
 * it starts and ends. Throws unless each chunk begins where the previous one ended.
 */
export function outputOf(events: SseEvent[], stream: 'stdout' | 'stderr', run?: number): { text: string; start: number; end: number; chunks: number } {
  return contiguous(events.filter((event): event is SseEvent<'output'> => event.event === 'output').map((event) => event.data), stream, run);
}

/**
 * The text of run `run`'s `stream` in `chunks` gathered from several connections (e.g. before
 * and after a reconnection), which must start at offset 0 and follow on with no gap or overlap.
 */
export function joinContiguous(chunks: OutputData[], run: number, stream: 'stdout' | 'stderr'): string {
  const joined = contiguous(chunks, stream, run);
  if (joined.start !== 0) throw new Error(`${stream} of run ${run}: the first chunk begins at ${joined.start}, not 0 (a gap)\n${summary(chunks)}`);
  return joined.text;
}

/**
 * Joins the chunks of one stream in order, failing on a gap, an overlap, or a chunk whose text
 * is not the length it announces (unchecked when the client dropped the text).
 */
function contiguous(chunks: OutputData[], stream: 'stdout' | 'stderr', run?: number): { text: string; start: number; end: number; chunks: number } {
  const label = run === undefined ? stream : `${stream} of run ${run}`;
  const mine = chunks.filter((chunk) => chunk.stream === stream && (run === undefined || chunk.run === run));
  const start = mine[0]?.offset ?? 0;
  let end = start;
  let text = '';
  for (const chunk of mine) {
    if (chunk.offset !== end) {
      throw new Error(`${label}: a chunk begins at ${chunk.offset}, expected ${end} (${chunk.offset > end ? 'a gap' : 'a duplicate'})\n${summary(chunks)}`);
    }
    if (chunk.text && Buffer.byteLength(chunk.text) !== chunk.bytes) {
      throw new Error(`${label}: the chunk at ${chunk.offset} announces ${chunk.bytes} bytes but holds ${Buffer.byteLength(chunk.text)}`);
    }
    end += chunk.bytes;
    text += chunk.text;
  }
  return { text, start, end, chunks: mine.length };
}

/** The chunks without their text, for failure messages that stay readable after megabytes. */
function summary(chunks: OutputData[]): string {
  return JSON.stringify(chunks.map(({ run, stream, offset, bytes }) => ({ run, stream, offset, bytes })));
}
