/** The client's reading of Server-Sent Events: the framing, a very long line, and resuming after a cut. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { followEvents } from '../../src/client/event-stream.js';
import { readEvents, type ReceivedEvent } from '../../src/client/sse-reader.js';

/** The stream `text` cut into pieces of `size` characters, as a socket might deliver it. */
async function* inPieces(text: string, size: number): AsyncGenerator<string> {
  for (let at = 0; at < text.length; at += size) yield text.slice(at, at + size);
}

async function read(chunks: AsyncIterable<string>): Promise<ReceivedEvent[]> {
  const events: ReceivedEvent[] = [];
  for await (const event of readEvents(chunks)) events.push(event);
  return events;
}

describe('readEvents', () => {
  const stream =
    ': a comment the daemon sends as a heartbeat\n\n' +
    'id: 1-1\nevent: status\ndata: {"status":"Executing"}\n\n' +
    'event: output\ndata: {"text":\ndata: "two lines"}\n\n' +
    'data: {"unnamed":true}\n\n' +
    'id: 1-3\nevent: deleted\ndata: {}\n\n';
  const expected = [
    { id: '1-1', name: 'status', data: { status: 'Executing' } },
    { id: undefined, name: 'output', data: { text: 'two lines' } },
    { id: '1-3', name: 'deleted', data: {} },
  ];

  it('yields the named events with their ids, skipping comments and unnamed events', async () => {
    expect(await read(inPieces(stream, stream.length))).toEqual(expected);
  });

  it('gives the same events whatever the chunks are cut at', async () => {
    for (const size of [1, 2, 3, 7, 64]) expect(await read(inPieces(stream, size))).toEqual(expected);
  });

  it('reads one line of several MB that arrives in small chunks', async () => {
    // The hand-written parser this replaced searched the whole pending text again for each
    // chunk: quadratic in the line's length, it did not finish this within the test's timeout.
    const text = 'x'.repeat(4 * 1024 * 1024);
    const long = `id: 2-1\nevent: output\ndata: ${JSON.stringify({ run: 1, stream: 'stdout', text })}\n\nevent: deleted\ndata: {}\n\n`;
    const events = await read(inPieces(long, 256));
    expect(events.map((event) => event.name)).toEqual(['output', 'deleted']);
    const output = events[0]!.data as { text: string };
    expect(output.text.length).toBe(text.length);
    expect(output.text).toBe(text);
    expect(events[0]!.id).toBe('2-1');
  });

  it('throws when an event carries data that is not JSON', async () => {
    await expect(read(inPieces('event: status\ndata: {not json\n\n', 100))).rejects.toThrow(SyntaxError);
  });
});

describe('followEvents', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('reconnects after a cut with Last-Event-ID, and ends when the daemon answers 204', async () => {
    const requests: IncomingHttpHeaders[] = [];
    server = createServer((request, response) => {
      requests.push(request.headers);
      if (requests.length === 1) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        // One whole event, then half of the next one, then the connection is cut.
        response.write('id: 7-1\nevent: status\ndata: {"n":1}\n\nid: 7-2\nevent: sta', () => response.destroy());
      } else if (requests.length === 2) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end('id: 7-2\nevent: status\ndata: {"n":2}\n\n');
      } else {
        response.writeHead(204).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const received: ReceivedEvent[] = [];
    for await (const event of followEvents({ baseUrl: `http://127.0.0.1:${port}`, path: '/api/tasks/job/events' })) received.push(event);

    expect(received).toEqual([
      { id: '7-1', name: 'status', data: { n: 1 } },
      { id: '7-2', name: 'status', data: { n: 2 } },
    ]);
    expect(requests.map((headers) => headers['last-event-id'])).toEqual([undefined, '7-1', '7-2']);
    expect(requests.every((headers) => headers.accept === 'text/event-stream')).toBe(true);
  });
});
