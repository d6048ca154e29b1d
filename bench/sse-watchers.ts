/**
 * Clients of a task's event stream (GET /api/tasks/{id}/events) for figures 6 and 7, run as
 * their own process so that the benchmark process is not what limits them (and each process
 * stays within its file descriptor limit). Every client reads its socket as fast as data
 * comes, and looks in what it reads only for the few markers it needs (in the raw bytes,
 * without parsing the stream), so that reading costs the clients as little as possible.
 *
 *   node dist/bench/sse-watchers.js fanout URL TASK N
 *     Opens N streams over plain TCP connections (at most 50 opening at a time; a stream is
 *     open once its snapshot came) and keeps reading them. Prints one JSON line
 *     {"ready": {...}} once every open has succeeded or failed. For every `run-started`
 *     event it records, per stream, the wall clock when the read holding it returned. On the
 *     line "report" on stdin it prints {"report": {...}} (those receipt times per run) and exits.
 *
 *   node dist/bench/sse-watchers.js drain URL TASK
 *     Opens one stream, prints {"ready": {}} once its snapshot came, then reads and discards
 *     everything, counting bytes and the output bytes announced by `output` events, until
 *     the stream ends. Then prints {"drained": {...}} and exits.
 *
 * Wall clock = performance.timeOrigin + performance.now(), in fractional epoch milliseconds,
 * comparable with the daemon's timestamps (same machine, same clock).
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { assertLoopback } from './api.js';
import { wallClockMs } from './script-clock.js';

/** What a fanout process says once all its streams are open (or failed to open). */
export interface FanoutReady {
  connected: number;
  failed: number;
  firstError: string | null;
  /** From the first open to the last snapshot, ms. */
  openMs: number;
}

/** Receipts of one run's `run-started` event across this process's streams. */
export interface RunReceipts {
  run: number;
  /** The event's startedAt (daemon clock, ISO). */
  startedAt: string;
  /** Per stream that received it: the wall clock when it was read. */
  receipts: number[];
}

export interface FanoutReport {
  runs: RunReceipts[];
  /** Streams that ended or failed after their snapshot, before the report. */
  closedEarly: number;
}

export interface Drained {
  /** Bytes of the response body read (the SSE text). */
  bodyBytes: number;
  /** Output bytes of stdout announced by `output` events, and how many events. */
  stdoutBytes: number;
  stdoutEvents: number;
  /** Jumps between one output event's end and the next one's offset (bytes the stream skipped). */
  gaps: number;
  /** Wall clock when `run-finished` was read, or null if the stream ended before it. */
  runFinishedReadAt: number | null;
  /** True when the stream ended after the task's final status; false when it was cut off. */
  endedNormally: boolean;
  endedAt: number;
  error: string | null;
}

const openConcurrency = 50;
const guardMs = 180_000;

const [mode, url, taskId, countText] = process.argv.slice(2);
if (!url || !taskId || (mode !== 'fanout' && mode !== 'drain') || (mode === 'fanout' && !(Number(countText) >= 1))) {
  process.stderr.write('usage: sse-watchers.js fanout URL TASK N | drain URL TASK\n');
  process.exit(2);
}
assertLoopback(url);
const target = new URL(`/api/tasks/${encodeURIComponent(taskId)}/events`, url);
setTimeout(() => {
  process.stderr.write(`sse-watchers: still running after ${guardMs / 1000} s; giving up\n`);
  process.exit(1);
}, guardMs).unref();

const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

/**
 * Finds markers in a byte stream read in pieces. Each read is searched together with the last
 * bytes of the one before, so that a marker split between two reads is still found, and
 * found once: an occurrence counts only if it begins past the last one counted. Inside a JSON
 * string a quote or newline is escaped, so a script's output cannot imitate a marker.
 */
class MarkerScanner {
  private static readonly keep = 256;
  private carry: Buffer = Buffer.alloc(0);
  /** Where the current window begins in the stream. */
  private windowStart = 0;
  private readonly counted = new Map<string, number>();
  private window: Buffer = Buffer.alloc(0);

  /** Takes the next read; `visit` then scans it. */
  feed(chunk: Buffer, visit: () => void): void {
    this.window = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    visit();
    const kept = Math.min(MarkerScanner.keep, this.window.length);
    this.windowStart += this.window.length - kept;
    this.carry = Buffer.from(this.window.subarray(this.window.length - kept));
  }

  /**
   * Calls `found` with the window and the index after each new occurrence of `marker`;
   * `found` returns false when what it needs after the marker has not all come yet (the
   * occurrence is then found again in the next window).
   */
  scan(marker: string, found: (window: Buffer, end: number) => boolean | void): void {
    const { window } = this;
    const last = this.counted.get(marker) ?? -1;
    for (let at = window.indexOf(marker); at !== -1; at = window.indexOf(marker, at + 1)) {
      if (this.windowStart + at <= last) continue;
      if (found(window, at + marker.length) === false) return;
      this.counted.set(marker, this.windowStart + at);
    }
  }
}

function fanout(count: number): void {
  const runs = new Map<number, RunReceipts>();
  const sockets: Socket[] = [];
  const requestText = `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/event-stream\r\n\r\n`;
  let connected = 0;
  let failed = 0;
  let firstError: string | null = null;
  let closedEarly = 0;
  let next = 0;
  let t0 = 0;

  const settleOne = () => {
    if (connected + failed === count) say({ ready: { connected, failed, firstError, openMs: performance.now() - t0 } satisfies FanoutReady });
    else if (next < count) openNext();
  };

  const openNext = () => {
    next++;
    let state: 'opening' | 'open' | 'gone' = 'opening';
    const fail = (error: Error) => {
      if (state === 'gone') return;
      if (state === 'open') closedEarly++;
      else {
        failed++;
        firstError ??= error.message;
      }
      const wasOpening = state === 'opening';
      state = 'gone';
      if (wasOpening) settleOne();
    };
    const scanner = new MarkerScanner();
    let first = true;
    const socket = connect({ host: target.hostname, port: Number(target.port) }, () => socket.write(requestText));
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => {
      const readAt = wallClockMs();
      if (first) {
        first = false;
        if (!chunk.subarray(0, 13).equals(Buffer.from('HTTP/1.1 200 '))) {
          fail(new Error(chunk.toString('latin1', 0, Math.min(chunk.length, 40)).split('\r\n')[0]!));
          socket.destroy();
          return;
        }
      }
      scanner.feed(chunk, () => {
        scanner.scan('event: snapshot\n', () => {
          if (state !== 'opening') return;
          state = 'open';
          connected++;
          settleOne();
        });
        scanner.scan('event: run-started\ndata: ', (window, end) => {
          const lineEnd = window.indexOf('\n', end);
          if (lineEnd === -1) return false;
          const data = JSON.parse(window.toString('utf8', end, lineEnd)) as { run: number; startedAt: string };
          let entry = runs.get(data.run);
          if (!entry) runs.set(data.run, (entry = { run: data.run, startedAt: data.startedAt, receipts: [] }));
          entry.receipts.push(readAt);
        });
      });
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the stream ended')));
  };

  t0 = performance.now();
  for (let index = 0; index < Math.min(openConcurrency, count); index++) openNext();

  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'report') return;
    const report: FanoutReport = { runs: [...runs.values()], closedEarly };
    process.stdout.write(`${JSON.stringify({ report })}\n`, () => {
      for (const socket of sockets) socket.destroy();
      process.exit(0);
    });
  });
}

function drain(): void {
  const result: Drained = { bodyBytes: 0, stdoutBytes: 0, stdoutEvents: 0, gaps: 0, runFinishedReadAt: null, endedNormally: false, endedAt: 0, error: null };
  let expectedOffset: number | undefined;
  let finalStatus = false;
  let ready = false;
  let done = false;
  // Output frames are large (the chunk's text, JSON-escaped) and arrive split across reads.
  const scanner = new MarkerScanner();

  const finish = (error: string | null) => {
    if (done) return;
    done = true;
    result.endedAt = wallClockMs();
    result.endedNormally = finalStatus && error === null;
    result.error = error;
    process.stdout.write(`${JSON.stringify({ drained: result })}\n`, () => process.exit(0));
  };

  /** The decimal number at `at` and the index after it, or undefined if the window ends inside it. */
  const number = (window: Buffer, at: number): [number, number] | undefined => {
    let value = 0;
    let index = at;
    while (index < window.length && window[index]! >= 0x30 && window[index]! <= 0x39) value = value * 10 + window[index++]! - 0x30;
    return index < window.length && index > at ? [value, index] : undefined;
  };

  const req = request(target, { agent: false, headers: { accept: 'text/event-stream' } }, (response) => {
    if (response.statusCode !== 200) {
      response.resume();
      finish(`HTTP ${response.statusCode}`);
      return;
    }
    response.on('data', (chunk: Buffer) => {
      const readAt = wallClockMs();
      result.bodyBytes += chunk.length;
      scanner.feed(chunk, () => {
        scanner.scan('event: snapshot\n', () => {
          if (!ready) say({ ready: {} });
          ready = true;
        });
        scanner.scan('event: run-finished\n', () => void (result.runFinishedReadAt ??= readAt));
        scanner.scan('"status":"Executed"', () => void (finalStatus = true));
        scanner.scan('"status":"Stopped"', () => void (finalStatus = true));
        scanner.scan('"stream":"stdout","offset":', (window, end) => {
          const offset = number(window, end);
          if (!offset || window.toString('latin1', offset[1], offset[1] + 9) !== ',"bytes":') return false;
          const bytes = number(window, offset[1] + 9);
          if (!bytes) return false;
          if (expectedOffset !== undefined && offset[0] !== expectedOffset) result.gaps++;
          expectedOffset = offset[0] + bytes[0];
          result.stdoutBytes += bytes[0];
          result.stdoutEvents++;
        });
      });
    });
    response.on('end', () => finish(finalStatus ? null : 'the stream ended before the task was final'));
    response.on('error', (error) => finish(error.message));
    response.on('close', () => finish(finalStatus ? null : 'the stream closed before the task was final'));
  });
  req.on('error', (error) => finish(error.message));
  req.end();
}

if (mode === 'fanout') fanout(Number(countText));
else drain();
