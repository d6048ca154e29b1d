/**
 * The fan-out of one frame to many SSE connections (sendToAll), over real sockets of a plain
 * node:http server: every watcher gets the same bytes in the order sent, and a watcher that
 * does not read is cut off without costing the others the frame it was cut on.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TLSSocket } from 'node:tls';
import { chunkOfDescriptors, ParallelWriter } from '../../src/server/events/parallel-writes.js';
import { burstFactor, sendToAll, SseConnection } from '../../src/server/events/sse-connection.js';
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
let helper: ParallelWriter | undefined;

afterEach(async () => {
  await helper?.close();
  helper = undefined;
  for (const watcher of watchers) watcher.socket.destroy();
  watchers = [];
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server whose every request becomes an SseConnection with `maxQueuedBytes`, in the order they came. */
async function startServer(maxQueuedBytes: number, cuts: number[]): Promise<{ connections: SseConnection[]; serverSockets: Socket[]; port: number }> {
  const connections: SseConnection[] = [];
  const serverSockets: Socket[] = [];
  server = createServer((_request, response) => {
    const connection = new SseConnection(response, maxQueuedBytes, (queued) => cuts.push(queued));
    connection.open();
    connections.push(connection);
    serverSockets.push(response.socket!);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { connections, serverSockets, port: (server!.address() as AddressInfo).port };
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

describe('sendToAll with a helper thread sharing the writes', () => {
  /** Sends `frames` through a helper to `count` watchers; resolves once each has them all, in order. */
  async function fanOut(count: number, frames: Buffer[]): Promise<{ helper: ParallelWriter; expected: Buffer; cuts: number[] }> {
    const writer = (helper = new ParallelWriter({ minSockets: 4 }));
    await writer.ready();
    const cuts: number[] = [];
    const { connections, port } = await startServer(1024 * 1024, cuts);
    const opened = await openWatchers(port, connections, count);
    for (const each of frames) sendToAll(connections, each, writer);
    const expected = Buffer.concat(frames);
    for (const watcher of opened) {
      await waitFor('every frame', () => watcher.body().length >= expected.length);
      expect(watcher.body().equals(expected)).toBe(true);
    }
    return { helper: writer, expected, cuts };
  }

  it('gives every watcher the same bytes in the order sent; the helper writes the first chunk of the sockets handed over', async () => {
    const frames = [frame(1, 'one'), frame(2, 'two, with ünïcödé'), Buffer.alloc(40 * 1024, 'y'), frame(3, 'three')];
    const { helper, cuts } = await fanOut(12, frames);
    // All 12 sockets, for each of the 4 frames: fewer than a chunk, so the helper wrote them all.
    expect(helper.handedOver).toBe(12 * frames.length);
    expect(helper.writtenByHelper).toBe(12 * frames.length);
    // The small frames at least were written directly (a large one may need the main thread to finish it through Node).
    expect(helper.bytesWritten).toBeGreaterThanOrEqual(12 * (frames[0]!.length + frames[1]!.length + frames[3]!.length));
    expect(cuts).toEqual([]);
  });

  it('shares more than a chunk of sockets between the two threads, every stream still in order', async () => {
    const frames = Array.from({ length: 6 }, (_, index) => frame(index, `change ${index}`));
    const { helper, expected, cuts } = await fanOut(100, frames);
    expect(helper.handedOver).toBe(100 * frames.length);
    // The helper's first chunk of each fan-out at least; the main thread whatever it claimed.
    expect(helper.writtenByHelper).toBeGreaterThanOrEqual(chunkOfDescriptors * frames.length);
    expect(helper.writtenByHelper).toBeLessThanOrEqual(100 * frames.length);
    expect(helper.bytesWritten).toBe(100 * expected.length);
    expect(cuts).toEqual([]);
  });

  it('does not hand over a socket with bytes queued: a watcher that does not read gets its bytes in order until it is cut, the others all of them', async () => {
    helper = new ParallelWriter({ minSockets: 2 });
    await helper.ready();
    const cuts: number[] = [];
    const maxQueued = 256 * 1024;
    const { connections, port } = await startServer(maxQueued, cuts);
    const opened = await openWatchers(port, connections, 6);
    const slow = opened[1]!; // it would be handed over while nothing is queued for it
    slow.socket.pause();

    // Frames of 60 KiB (within what the helper takes) until the slow watcher is cut.
    const pieces: Buffer[] = [];
    let sent = 0;
    for (let count = 0; cuts.length === 0; count++) {
      if (count > 5000) throw new Error(`the slow watcher was not cut off after ${sent} bytes`);
      const piece = Buffer.alloc(60 * 1024, String.fromCharCode(97 + (count % 26)));
      pieces.push(piece);
      sendToAll(connections, piece, helper);
      sent += piece.length;
      for (const reader of opened.filter((watcher) => watcher !== slow)) {
        await waitFor('the reader has every frame so far', () => reader.bytes === sent + reader.headBytes, { intervalMs: 1 });
      }
    }
    expect(cuts).toHaveLength(1);
    expect(connections[1]!.closed).toBe(true);
    const expected = Buffer.concat(pieces);
    for (const reader of opened.filter((watcher) => watcher !== slow)) expect(reader.body().equals(expected)).toBe(true);
    slow.socket.resume();
    await waitFor('the slow watcher sees its stream cut', () => slow.closed);
    // What it got before the cut is a beginning of the stream, in order, with nothing missing or doubled.
    const got = slow.body();
    expect(got.length).toBeLessThan(sent);
    expect(got.equals(expected.subarray(0, got.length))).toBe(true);
    expect(helper.handedOver).toBeGreaterThan(0);
  });

  it('writes through the main thread alone before the helper runs, below its threshold, and once it has ended', async () => {
    const cuts: number[] = [];
    const { connections, port } = await startServer(1024 * 1024, cuts);
    const opened = await openWatchers(port, connections, 4);
    const starting = new ParallelWriter({ minSockets: 2 });
    sendToAll(connections, frame(0, 'before the helper runs'), starting);
    expect(starting.handedOver).toBe(0);
    await starting.close();
    helper = new ParallelWriter({ minSockets: 5 });
    await helper.ready();
    sendToAll(connections, frame(1, 'below the threshold'), helper);
    expect(helper.handedOver).toBe(0);
    const ended = new ParallelWriter({ minSockets: 2 });
    await ended.ready();
    await ended.close();
    sendToAll(connections, frame(2, 'after the end'), ended);
    expect(ended.handedOver).toBe(0);
    const expected = Buffer.concat([frame(0, 'before the helper runs'), frame(1, 'below the threshold'), frame(2, 'after the end')]);
    for (const watcher of opened) {
      await waitFor('both frames', () => watcher.body().length >= expected.length);
      expect(watcher.body().equals(expected)).toBe(true);
    }
  });

  it('hands over only a socket with nothing queued in Node: the helper\'s bytes would pass those queued', async () => {
    const cuts: number[] = [];
    const { connections, serverSockets, port } = await startServer(64 * 1024 * 1024, cuts);
    const [watcher] = await openWatchers(port, connections, 1);
    expect(connections[0]!.descriptorForHelper()).toBeGreaterThanOrEqual(0);
    watcher!.socket.pause();
    const big = Buffer.alloc(1024 * 1024, 'z');
    for (let count = 0; serverSockets[0]!.writableLength === 0; count++) {
      if (count > 64) throw new Error('nothing was queued in Node after 64 MiB');
      sendToAll(connections, big);
    }
    expect(connections[0]!.descriptorForHelper()).toBe(-1);
    watcher!.socket.resume();
    await waitFor('the queue drains', () => serverSockets[0]!.writableLength === 0);
    expect(connections[0]!.descriptorForHelper()).toBeGreaterThanOrEqual(0);
    expect(cuts).toEqual([]);
  });

  it('never hands over a TLS socket: its bytes must go through the encryption', async () => {
    const cuts: number[] = [];
    const { connections, port } = await startServer(1024 * 1024, cuts);
    await openWatchers(port, connections, 1);
    expect(connections[0]!.descriptorForHelper()).toBeGreaterThanOrEqual(0);
    const plain = connect({ host: '127.0.0.1', port });
    const tls = new TLSSocket(plain);
    try {
      const overTls = new SseConnection({ socket: tls } as unknown as ServerResponse, 1024, () => undefined);
      expect(overTls.descriptorForHelper()).toBe(-1);
    } finally {
      tls.destroy();
      plain.destroy();
    }
  });
});

/**
 * A socket whose queue the test sets: what the kernel has not taken yet. write() adds to it,
 * and the test empties it as a client that reads would.
 */
function queueSocket() {
  const socket = {
    writableLength: 0,
    destroyed: false,
    writable: true,
    resets: 0,
    write(chunk: Buffer) {
      socket.writableLength += chunk.length;
      return true;
    },
    once: () => socket,
    resetAndDestroy() {
      socket.resets++;
    },
  };
  return socket;
}

describe('SseConnection: a client with more than its bound queued', () => {
  const bound = 1000;
  const graceMs = 5_000;
  function connection() {
    const socket = queueSocket();
    const clock = { now: 0 };
    const cuts: number[] = [];
    const sse = new SseConnection({ socket } as unknown as ServerResponse, bound, (queued) => cuts.push(queued), { graceMs, now: () => clock.now });
    const send = (bytes: number) => sendToAll([sse], Buffer.alloc(bytes, 'x'));
    return { socket, clock, cuts, sse, send };
  }

  it('is not cut for a burst it takes within the grace period, and its grace starts again once it has caught up', () => {
    const { socket, clock, cuts, sse, send } = connection();
    send(3 * bound);
    clock.now = graceMs - 1;
    send(bound);
    expect(cuts).toEqual([]);
    // It read: its queue is under the bound again, and the next burst has a grace of its own.
    socket.writableLength = 0;
    send(10);
    clock.now += graceMs - 1;
    send(3 * bound);
    clock.now += graceMs - 1;
    send(10);
    expect(cuts).toEqual([]);
    expect(sse.closed).toBe(false);
  });

  it('is cut once it has stayed over its bound for the grace period', () => {
    const { socket, clock, cuts, sse, send } = connection();
    send(2 * bound);
    clock.now = graceMs;
    send(10);
    expect(cuts).toEqual([2 * bound + 10]);
    expect(socket.resets).toBe(1);
    expect(sse.closed).toBe(true);
    send(10);
    expect(socket.writableLength).toBe(2 * bound + 10);
  });

  it(`is cut at once past ${burstFactor} times its bound`, () => {
    const { socket, cuts, send } = connection();
    send(burstFactor * bound);
    expect(cuts).toEqual([]);
    send(1);
    expect(cuts).toEqual([burstFactor * bound + 1]);
    expect(socket.resets).toBe(1);
  });
});
