/**
 * The fan-out of one frame to many SSE connections (sendToAll), over real sockets of a plain
 * node:http server: every watcher gets the same bytes in the order sent, and a watcher that
 * does not read is cut off without costing the others the frame it was cut on.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendToAll, SseConnection } from '../../src/server/events/sse-connection.js';
import { waitFor } from '../support/wait.js';

/** What the stream sends before the first frame: status line, headers, retry. */
const headEnd = 'retry: 1000\n\n';

interface Watcher {
  socket: Socket;
  received: Buffer[];
  /** Bytes received, head included. */
  bytes: number;
  /** Bytes of the head (status line, headers, retry), once it has come. */
  headBytes: number;
  /** Bytes received after the head. */
  body(): Buffer;
  closed: boolean;
}

let server: Server | undefined;
let watchers: Watcher[] = [];

afterEach(async () => {
  for (const watcher of watchers) watcher.socket.destroy();
  watchers = [];
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server whose every request becomes an SseConnection with `maxQueuedBytes`, in the order they came. */
async function startServer(maxQueuedBytes: number, cuts: number[]): Promise<{ connections: SseConnection[]; port: number }> {
  const connections: SseConnection[] = [];
  server = createServer((_request, response) => {
    const connection = new SseConnection(response, maxQueuedBytes, (queued) => cuts.push(queued));
    connection.open();
    connections.push(connection);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { connections, port: (server!.address() as AddressInfo).port };
}

function watch(port: number): Watcher {
  const socket = connect({ host: '127.0.0.1', port }, () => socket.write('GET /events HTTP/1.1\r\nHost: test\r\n\r\n'));
  const watcher: Watcher = {
    socket,
    received: [],
    bytes: 0,
    headBytes: 0,
    body() {
      const all = Buffer.concat(this.received).toString('latin1');
      const start = all.indexOf(headEnd);
      return start === -1 ? Buffer.alloc(0) : Buffer.from(all.slice(start + headEnd.length), 'latin1');
    },
    closed: false,
  };
  socket.on('data', (chunk: Buffer) => {
    watcher.received.push(chunk);
    watcher.bytes += chunk.length;
  });
  socket.on('error', () => undefined); // a cut watcher's reset; closed says it ended
  socket.on('close', () => (watcher.closed = true));
  watchers.push(watcher);
  return watcher;
}

/** Opens `count` watchers one after another, so that the server holds them in that order. */
async function openWatchers(port: number, connections: SseConnection[], count: number): Promise<Watcher[]> {
  const opened: Watcher[] = [];
  for (let index = 0; index < count; index++) {
    const watcher = watch(port);
    await waitFor('the connection reaches the server', () => connections.length === index + 1);
    const head = await waitFor('the head of the stream', () => {
      const at = Buffer.concat(watcher.received).indexOf(headEnd);
      return at === -1 ? undefined : at + headEnd.length;
    });
    watcher.headBytes = head;
    opened.push(watcher);
  }
  return opened;
}

const frame = (id: number, data: string) => Buffer.from(`id: e-${id}\nevent: status\ndata: ${JSON.stringify({ data })}\n\n`);

describe('sendToAll', () => {
  it('writes the same bytes to every watcher, frame after frame, in the order sent', async () => {
    const cuts: number[] = [];
    const { connections, port } = await startServer(1024 * 1024, cuts);
    const opened = await openWatchers(port, connections, 5);
    const frames = [frame(1, 'one'), frame(2, 'two, with ünïcödé'), Buffer.concat([frame(3, 'three'), frame(4, 'four')])];
    for (const each of frames) sendToAll(connections, each);
    const expected = Buffer.concat(frames);
    for (const watcher of opened) {
      await waitFor('every frame', () => watcher.body().length >= expected.length);
      expect(watcher.body().equals(expected)).toBe(true);
    }
    expect(cuts).toEqual([]);
    expect(connections.every((connection) => !connection.closed)).toBe(true);
  });

  it('cuts off a watcher that does not read once too much waits for it; those after it in the loop still get that frame and the next', async () => {
    const cuts: number[] = [];
    const maxQueued = 256 * 1024;
    const { connections, port } = await startServer(maxQueued, cuts);
    const [before, slow, after] = await openWatchers(port, connections, 3);
    slow!.socket.pause();

    // Frames of 128 KiB until the kernel's buffers toward the slow watcher are full and the
    // bytes queued for it pass the bound; the readers take each frame before the next.
    const big = Buffer.alloc(128 * 1024, 'x');
    let sent = 0;
    for (let count = 0; cuts.length === 0; count++) {
      if (count > 2000) throw new Error(`the slow watcher was not cut off after ${sent} bytes`);
      sendToAll(connections, big);
      sent += big.length;
      for (const reader of [before!, after!]) {
        await waitFor('the reader has every frame so far', () => reader.bytes === sent + reader.headBytes, { intervalMs: 1 });
      }
    }
    expect(cuts).toHaveLength(1);
    expect(cuts[0]).toBeGreaterThan(maxQueued);
    expect(connections[1]!.closed).toBe(true);
    expect(connections[0]!.closed).toBe(false);
    expect(connections[2]!.closed).toBe(false);

    // The readers go on; the cut watcher gets nothing more: its connection closes short.
    const last = frame(9, 'after the cut');
    sendToAll(connections, last);
    for (const reader of [before!, after!]) {
      await waitFor('the frame after the cut', () => reader.body().length === sent + last.length);
      expect(reader.body().subarray(sent).equals(last)).toBe(true);
    }
    slow!.socket.resume();
    await waitFor('the slow watcher sees its stream cut', () => slow!.closed);
    expect(slow!.body().length).toBeLessThan(sent);
    expect(cuts).toHaveLength(1);
  });
});
