/**
 * A run's output as the run screen shows it: pieces received over the event stream put
 * together by their byte offsets (a piece received twice, after a reconnection, is added
 * once), and the kept head and tail of a finished run with a mark where the middle was
 * dropped. Offsets count bytes of UTF-8, the text's characters do not: hence the encoder.
 */
import type { RunView } from './views.js';

export type Stream = 'stdout' | 'stderr';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One stream's text as received, and how many of its bytes that is. */
export interface Received {
  text: string;
  bytes: number;
}

/** `received` with a piece of output at `offset` added: what it already has is skipped, a gap is marked. */
export function addPiece(received: Received, offset: number, text: string): Received {
  const bytes = encoder.encode(text);
  if (offset + bytes.length <= received.bytes) return received;
  if (offset > received.bytes) {
    const gap = offset - received.bytes;
    return { text: `${received.text}\n[… ${gap} bytes not kept (the run's output cap) …]\n${text}`, bytes: offset + bytes.length };
  }
  const fresh = offset === received.bytes ? text : decoder.decode(bytes.slice(received.bytes - offset));
  return { text: received.text + fresh, bytes: offset + bytes.length };
}

/** The kept output of a finished run, with a mark where its middle was dropped. */
export function keptText(run: RunView, stream: Stream): Received {
  const text = run[stream] ?? '';
  const dropped = run[`${stream}DroppedBytes`] ?? 0;
  const total = run[`${stream}Bytes`] ?? encoder.encode(text).length;
  if (dropped === 0) return { text, bytes: total };
  const bytes = encoder.encode(text);
  const at = run[`${stream}DroppedAt`] ?? 0;
  return {
    text: `${decoder.decode(bytes.slice(0, at))}\n[… ${dropped} bytes dropped here (the run's output cap) …]\n${decoder.decode(bytes.slice(at))}`,
    bytes: total,
  };
}

