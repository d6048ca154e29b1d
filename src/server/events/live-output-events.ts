/** The output a run in progress wrote before a client connected, as the output events it would have received. */
import type { LiveOutput } from '../../core/task.js';
import { outputEvent, type NamedEvent } from '../../protocol/events.js';

/** The output so far of a run in progress, as output events: each stream's head, then its tail after the dropped bytes. */
export function liveOutputEvents(live: LiveOutput, at: number): NamedEvent[] {
  const events: NamedEvent[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const { text, droppedBytes, droppedAt } = live[stream];
    if (text.length === 0) continue;
    if (droppedBytes === 0) {
      events.push(outputEvent(live.run, stream, 0, text, at));
      continue;
    }
    const bytes = Buffer.from(text);
    if (droppedAt > 0) events.push(outputEvent(live.run, stream, 0, bytes.subarray(0, droppedAt), at));
    if (bytes.length > droppedAt) events.push(outputEvent(live.run, stream, droppedAt + droppedBytes, bytes.subarray(droppedAt), at));
  }
  return events;
}
