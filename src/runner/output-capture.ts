/**
 * Captures one output stream of a run. It keeps the stream's first bytes (the head, where a
 * script says what it is doing) and its last bytes (the tail, where it says how it ended),
 * and only counts what falls between, so memory stays bounded however much a script prints.
 * The head is also appended to a spool file, so that the output of a run survives a crash of
 * the daemon and can be attached to the run when it is recorded as interrupted.
 *
 * Every chunk is also handed, as it arrives, to a listener (the live event stream), cut at
 * UTF-8 character boundaries so that each chunk reads as text on its own.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { incompleteCharacterAtEnd } from '../core/output-window.js';
import type { CapturedOutput } from '../core/task.js';

/** Receives the bytes of a stream as they are written; `offset` is where they begin in the stream. */
export type OutputListener = (offset: number, chunk: Buffer) => void;

/** Bounded capture of one stream: head and tail kept, the middle counted. */
export class OutputCapture {
  private readonly headCap: number;
  private readonly tailCap: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  /** A ring of the last `tailCap` bytes after the head, allocated once the head is full. */
  private tail: Buffer | undefined;
  private tailBytes = 0;
  private tailNext = 0;
  private totalBytes = 0;
  /** The bytes of a character split by a chunk boundary, held back from the listener. */
  private heldBack: Buffer | undefined;
  private emittedBytes = 0;
  private spool: WriteStream | undefined;
  /** Set when the spool file could not be opened or written: the capture goes on in memory. */
  private spoolFailed = false;
  listener: OutputListener | undefined;

  /** `cap` bytes are kept in all: half from the start of the stream, half from its end. */
  constructor(
    cap: number,
    private readonly spoolPath: string,
  ) {
    this.headCap = Math.ceil(cap / 2);
    this.tailCap = cap - this.headCap;
  }

  /** Takes the next chunk the script wrote. */
  write(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    const room = this.headCap - this.headBytes;
    if (room > 0) {
      const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.head.push(kept);
      this.headBytes += kept.length;
      this.spoolWrite(kept);
      this.keepInTail(chunk.subarray(kept.length));
    } else {
      this.keepInTail(chunk);
    }
    this.emit(chunk);
  }

  /** Hands the listener the last bytes held back (the stream has ended). */
  flush(): void {
    const held = this.heldBack;
    this.heldBack = undefined;
    if (held) this.deliver(held);
  }

  /** What was captured: all of it, or its head and tail with what was dropped between. */
  result(): CapturedOutput {
    return this.summary(0);
  }

  /**
   * What was captured up to the last byte handed to the listener: the bytes of a character
   * still held back are left out, so that the listener's next chunk follows on exactly.
   */
  delivered(): CapturedOutput {
    return this.summary(this.heldBack?.length ?? 0);
  }

  /** The capture, less its last `withheld` bytes. */
  private summary(withheld: number): CapturedOutput {
    let head = Buffer.concat(this.head, this.headBytes);
    let tail = this.orderedTail();
    const total = this.totalBytes - withheld;
    // The withheld bytes are the stream's last: at the end of the tail, and of the head
    // when the tail holds fewer of them (then nothing was dropped between the two).
    const fromTail = Math.min(withheld, tail.length);
    tail = tail.subarray(0, tail.length - fromTail);
    head = head.subarray(0, head.length - (withheld - fromTail));
    if (head.length + tail.length === total) {
      return { text: Buffer.concat([head, tail]).toString('utf8'), totalBytes: total, droppedBytes: 0, droppedAt: 0 };
    }
    // Bytes were dropped between head and tail: trim each side to whole characters, so the
    // kept text has no broken character at the seam, and count the trimmed bytes as dropped.
    const keptHead = head.subarray(0, head.length - incompleteCharacterAtEnd(head));
    const keptTail = tail.subarray(leadingContinuationBytes(tail));
    return {
      text: keptHead.toString('utf8') + keptTail.toString('utf8'),
      totalBytes: total,
      droppedBytes: total - keptHead.length - keptTail.length,
      droppedAt: keptHead.length,
    };
  }

  /** Closes the spool file; its content is no longer needed once the run is recorded. */
  async close(): Promise<void> {
    this.flush();
    const spool = this.spool;
    if (!spool || spool.destroyed) return;
    // 'close' follows the end of the file, and a failure too, so this settles either way.
    await new Promise<void>((resolve) => {
      spool.once('close', () => resolve());
      spool.end();
    });
  }

  private keepInTail(bytes: Buffer): void {
    if (bytes.length === 0 || this.tailCap === 0) return;
    const tail = (this.tail ??= Buffer.allocUnsafe(this.tailCap));
    // Only the last tailCap bytes of a large chunk can survive: skip the rest at once.
    const source = bytes.length > this.tailCap ? bytes.subarray(bytes.length - this.tailCap) : bytes;
    const first = Math.min(source.length, this.tailCap - this.tailNext);
    source.copy(tail, this.tailNext, 0, first);
    source.copy(tail, 0, first);
    this.tailNext = (this.tailNext + source.length) % this.tailCap;
    this.tailBytes = Math.min(this.tailCap, this.tailBytes + source.length);
  }

  private orderedTail(): Buffer {
    if (!this.tail || this.tailBytes === 0) return Buffer.alloc(0);
    if (this.tailBytes < this.tailCap) return this.tail.subarray(0, this.tailBytes);
    return Buffer.concat([this.tail.subarray(this.tailNext), this.tail.subarray(0, this.tailNext)]);
  }

  private emit(chunk: Buffer): void {
    if (!this.listener) {
      this.emittedBytes += chunk.length;
      return;
    }
    const bytes = this.heldBack ? Buffer.concat([this.heldBack, chunk]) : chunk;
    const split = incompleteCharacterAtEnd(bytes);
    this.heldBack = split > 0 ? Buffer.from(bytes.subarray(bytes.length - split)) : undefined;
    if (bytes.length > split) this.deliver(bytes.subarray(0, bytes.length - split));
  }

  private deliver(bytes: Buffer): void {
    const offset = this.emittedBytes;
    this.emittedBytes += bytes.length;
    this.listener?.(offset, bytes);
  }

  private spoolWrite(bytes: Buffer): void {
    // Opened on the first byte: most runs print little, and many print nothing.
    if (!this.spool) {
      this.spool = createWriteStream(this.spoolPath, { flags: 'a' });
      // The spool only guards against a crash of the daemon. That it cannot be written (the
      // disk is full, no file descriptor is left, the directory is gone) must neither stop
      // the run nor, as an unhandled 'error' event would, bring the daemon down.
      this.spool.on('error', () => {
        this.spoolFailed = true;
      });
    }
    if (!this.spoolFailed) this.spool.write(bytes);
  }
}

/** How many continuation bytes (the rest of a character cut off before them) start `bytes`, at most 3. */
function leadingContinuationBytes(bytes: Buffer): number {
  let count = 0;
  while (count < 3 && count < bytes.length && (bytes[count]! & 0xc0) === 0x80) count++;
  return count;
}
