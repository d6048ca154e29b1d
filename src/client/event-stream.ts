/**
 * Following a task's live event stream (GET /api/tasks/{id}/events) from a client. The
 * stream is read as Server-Sent Events; when the connection drops (the daemon cut off a
 * client that fell behind, or the task reached its end) it reconnects with Last-Event-ID,
 * as a browser's EventSource would, and ends when the daemon answers 204 (nothing more
 * will happen). A daemon that no longer answers is a daemon_unreachable error.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SchedulerError } from '../protocol/errors.js';
import { errorFromAnswer, unreachable } from './answer-errors.js';
import { readEvents, type ReceivedEvent } from './sse-reader.js';

export type { ReceivedEvent };

/** Reconnections in a row that bring no event before the follower gives up. */
const maxEmptyReconnects = 3;

/** Yields the task's events until nothing more will happen to it. */
export async function* followEvents(params: { baseUrl: string; path: string; token?: string; lastEventId?: string }): AsyncGenerator<ReceivedEvent> {
  const url = `${params.baseUrl}${params.path}`;
  let lastEventId = params.lastEventId;
  let emptyReconnects = 0;
  for (;;) {
    const response = await connect(url, params.baseUrl, params.token, lastEventId);
    if (response === 'nothing-more') return;
    let received = 0;
    try {
      for await (const event of parseEvents(response)) {
        received++;
        if (event.id !== undefined) lastEventId = event.id;
        yield event;
      }
    } catch {
      // Cut off or reset: reconnect below, from the last event received.
    }
    emptyReconnects = received === 0 ? emptyReconnects + 1 : 0;
    if (emptyReconnects >= maxEmptyReconnects) {
      throw new SchedulerError('internal', `the event stream at ${url} keeps closing without sending anything`);
    }
  }
}

function connect(url: string, baseUrl: string, token: string | undefined, lastEventId: string | undefined): Promise<IncomingMessage | 'nothing-more'> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, { headers }, (response) => {
      if (response.statusCode === 200) return resolve(response);
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode === 204) return resolve('nothing-more');
        reject(errorFromAnswer(response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
      });
    });
    request.on('error', (error) => reject(unreachable(baseUrl, error)));
    request.end();
  });
}

/** The events of one response; throws when the stream was cut off in the middle. */
async function* parseEvents(response: IncomingMessage): AsyncGenerator<ReceivedEvent> {
  response.setEncoding('utf8');
  yield* readEvents(response as AsyncIterable<string>);
  // The daemon ends a stream only between events; a stream cut in the middle of one
  // lost that event, which the reconnection asks for again.
  if (!response.complete) throw new Error('the event stream was cut off');
}
