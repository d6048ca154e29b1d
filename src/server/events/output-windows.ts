/** The output a client has not been told yet, from the head and tail windows a run keeps of each stream. */
import type { CapturedOutput } from '../../core/task.js';

/** A piece of a stream not yet sent: where it begins, and its bytes. */
interface Piece {
  offset: number;
  bytes: Buffer;
}

/** The bytes of `output` from stream offset `sent` on that its windows still hold, as pieces at their offsets. */
export function unsentOutput(output: CapturedOutput, sent: number): Piece[] {
  const bytes = Buffer.from(output.text);
  if (output.totalBytes <= sent) return [];
  if (output.droppedBytes === 0) return [{ offset: sent, bytes: bytes.subarray(sent) }];
  const pieces: Piece[] = [];
  if (sent < output.droppedAt) pieces.push({ offset: sent, bytes: bytes.subarray(sent, output.droppedAt) });
  const tailStart = output.droppedAt + output.droppedBytes;
  const from = Math.max(sent, tailStart);
  if (output.totalBytes > from) pieces.push({ offset: from, bytes: bytes.subarray(output.droppedAt + (from - tailStart)) });
  return pieces.filter((piece) => piece.bytes.length > 0);
}
