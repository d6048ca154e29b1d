/**
 * Reads Server-Sent Events out of a stream of text, with eventsource-parser: it buffers a
 * line that spans many chunks as a list of pieces, so a long `data:` line (a few MB of
 * output in one event) costs time in proportion to its length, not to its square.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { NamedEvent } from '../protocol/events.js';

/** An event as received, with its id when it has one. */
export type ReceivedEvent = NamedEvent & { id: string | undefined };

/**
 * Yields the named events of the stream as they complete; comments and events without a
 * name (not ours) are skipped. Throws when an event's data is not JSON.
 */
export async function* readEvents(chunks: AsyncIterable<string>): AsyncGenerator<ReceivedEvent> {
  const completed: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (message) => completed.push(message) });
  for await (const chunk of chunks) {
    parser.feed(chunk);
    for (const message of completed.splice(0)) {
      if (message.event === undefined) continue;
      yield { id: message.id, name: message.event, data: JSON.parse(message.data) } as ReceivedEvent;
    }
  }
}
