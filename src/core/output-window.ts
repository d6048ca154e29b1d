/**
 * Reading a stream's kept output from a byte offset, a window at a time, so that a large
 * output is fetched in parts. Kept output is the head of the stream, then its tail after
 * the dropped middle; offsets are positions in the stream as the script wrote it.
 */
import type { CapturedOutput } from './task.js';

/** One window of a stream's output. */
export interface OutputWindow {
  /** Where the window begins: the offset asked for, or the end of the dropped bytes it fell into. */
  offset: number;
  /** Where the next window begins. Equal to `offset` when there is nothing more (yet). */
  nextOffset: number;
  /** Bytes skipped because they were dropped, between the offset asked for and `offset`. */
  skippedBytes: number;
  text: string;
}

/** The kept bytes of `output` from `offset`, at most `limit` of them, cut at a character boundary. */
export function readOutputWindow(output: CapturedOutput, offset: number, limit: number): OutputWindow {
  const { totalBytes, droppedBytes, droppedAt } = output;
  const kept = Buffer.from(output.text);
  const gapEnd = droppedAt + droppedBytes;
  // An offset inside the dropped bytes moves to the first kept byte after them.
  const start = droppedBytes > 0 && offset >= droppedAt && offset < gapEnd ? gapEnd : Math.min(offset, totalBytes);
  // A window never spans the gap: from the head it ends where the dropped bytes begin.
  const end = Math.min(start + limit, droppedBytes > 0 && start < droppedAt ? droppedAt : totalBytes);
  const toKept = (position: number) => (droppedBytes > 0 && position >= gapEnd ? position - droppedBytes : position);
  let bytes = kept.subarray(toKept(start), toKept(end));
  // Cut at a character boundary, unless that would leave nothing (a limit under 4 bytes).
  const split = incompleteCharacterAtEnd(bytes);
  if (end < totalBytes && split > 0 && split < bytes.length) bytes = bytes.subarray(0, bytes.length - split);
  return { offset: start, nextOffset: start + bytes.length, skippedBytes: Math.max(0, start - offset), text: bytes.toString('utf8') };
}

/** How many bytes at the end of `bytes` start a UTF-8 character that is not complete (0 to 3). */
export function incompleteCharacterAtEnd(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}
