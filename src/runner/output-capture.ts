/**
 * Captures one output stream of a run. It keeps the stream's first bytes (the head, where a
 * script says what it is doing) and its last bytes (the tail, where it says how it ended),
 * and only counts what falls between, so memory stays bounded however much a script prints.
 * The head is also appended to a spool file as it comes (once the stream has gone on for
 * `headSpoolDelayMs`: most runs print a little and end sooner, and a file opened, written,
 * closed and removed for each of them was a tenth of the daemon's work in a burst of short
 * runs; a crash within that first moment loses what it printed), and the tail, once there is one, is
 * written to a second spool file (`.tail`: the stream's byte count, a newline, the tail's
 * bytes) at most every `tailSpoolIntervalMs`, replaced whole (written aside, then renamed).
 * So the output of a run survives a crash of the daemon as head and tail, bounded by the cap
 * like any run's (less the tail's last seconds), and is attached to the run when it is
 * recorded as interrupted (recoverCapture). A chatty stream costs one write of at most half
 * the cap per interval, never a write per chunk.
 *
 * Every chunk is also handed, as it arrives, to a listener (the live event stream), cut at
 * UTF-8 character boundaries so that each chunk reads as text on its own.
 */
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { incompleteCharacterAtEnd } from '../core/output-window.js';
import type { CapturedOutput } from '../core/task.js';

/** Between two writes of a stream's tail to its spool. */
export const tailSpoolIntervalMs = 2000;
/** How long after its first byte a stream's head starts to be spooled (what came before is written then). */
export const headSpoolDelayMs = 250;

/** The file that holds the spooled tail of the stream spooled at `spoolPath`. */
export function tailSpoolPath(spoolPath: string): string {
  return `${spoolPath}.tail`;
}

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
  /** The opening of the head's spool file, while it is to come. */
  private spoolTimer: NodeJS.Timeout | undefined;
  /** Set when the spool file could not be opened or written: the capture goes on in memory. */
  private spoolFailed = false;
  /** The next write of the tail to its spool file, while one is due. */
  private tailTimer: NodeJS.Timeout | undefined;
  /** Whether the tail was ever written to its spool file. */
  private tailSpooled = false;
  /** The write of the tail in progress, if any. */
  private tailWrite: Promise<void> | undefined;
  private closed = false;
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
    // The withheld bytes are the stream's last: at the end of the tail, and of the head
    // when the tail holds fewer of them (then nothing was dropped between the two).
    const fromTail = Math.min(withheld, tail.length);
    tail = tail.subarray(0, tail.length - fromTail);
    head = head.subarray(0, head.length - (withheld - fromTail));
    return headAndTail(head, tail, this.totalBytes - withheld);
  }

  /**
   * The spool files this capture may have written (none for a stream that printed nothing);
   * complete once close() has settled.
   */
  spooledFiles(): string[] {
    const head = this.spool ? [this.spoolPath] : [];
    return this.tailSpooled ? [...head, tailSpoolPath(this.spoolPath), `${tailSpoolPath(this.spoolPath)}.tmp`] : head;
  }

  /** Closes the spool files; their content is no longer needed once the run is recorded. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.spoolTimer);
    this.spoolTimer = undefined;
    clearTimeout(this.tailTimer);
    this.tailTimer = undefined;
    // A write of the tail still going must not land after the run's spool is removed.
    await this.tailWrite;
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
    if (!this.tailTimer && !this.spoolFailed && !this.closed) {
      this.tailTimer = setTimeout(() => this.spoolTail(), tailSpoolIntervalMs).unref();
    }
  }

  /** Replaces the spooled tail with the tail now (written aside, then renamed, so a crash leaves one whole). */
  private spoolTail(): void {
    this.tailTimer = undefined;
    if (this.closed || this.tailWrite) return;
    const path = tailSpoolPath(this.spoolPath);
    this.tailSpooled = true;
    const content = Buffer.concat([Buffer.from(`${this.totalBytes}\n`), this.orderedTail()]);
    this.tailWrite = writeFile(`${path}.tmp`, content)
      .then(() => rename(`${path}.tmp`, path))
      // Like the head's, a tail that cannot be spooled only weakens what a crash leaves.
      .catch(() => undefined)
      .finally(() => {
        this.tailWrite = undefined;
      });
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
    if (!this.spool) {
      // The head written so far goes to the file when it is opened.
      this.spoolTimer ??= setTimeout(() => this.openSpool(), headSpoolDelayMs).unref();
      return;
    }
    if (!this.spoolFailed) this.spool.write(bytes);
  }

  /** The stream has gone on for a moment: its head is spooled from now on, beginning with what it kept so far. */
  private openSpool(): void {
    this.spoolTimer = undefined;
    if (this.closed) return;
    this.spool = createWriteStream(this.spoolPath, { flags: 'a' });
    // The spool only guards against a crash of the daemon. That it cannot be written (the
    // disk is full, no file descriptor is left, the directory is gone) must neither stop
    // the run nor, as an unhandled 'error' event would, bring the daemon down.
    this.spool.on('error', () => {
      this.spoolFailed = true;
    });
    this.spool.write(Buffer.concat(this.head, this.headBytes));
  }
}

/**
 * The captured output of a stream of `total` bytes of which `head` (its first bytes) and
 * `tail` (its last) were kept: all of it when they add up to the total, else both with what
 * was dropped between them, each side trimmed to whole characters at the seam (the trimmed
 * bytes counted as dropped).
 */
function headAndTail(head: Buffer, tail: Buffer, total: number): CapturedOutput {
  if (head.length + tail.length >= total) {
    return { text: Buffer.concat([head, tail]).toString('utf8'), totalBytes: head.length + tail.length, droppedBytes: 0, droppedAt: 0 };
  }
  const keptHead = head.subarray(0, head.length - incompleteCharacterAtEnd(head));
  const keptTail = tail.subarray(leadingContinuationBytes(tail));
  return {
    text: keptHead.toString('utf8') + keptTail.toString('utf8'),
    totalBytes: total,
    droppedBytes: total - keptHead.length - keptTail.length,
    droppedAt: keptHead.length,
  };
}

/**
 * What a stream spooled at `spoolPath` had captured when the daemon stopped: its head, and
 * its tail as last spooled (the bytes after that were lost). Nothing spooled: no output.
 */
export function recoverCapture(spoolPath: string): CapturedOutput {
  const head = readOrEmpty(spoolPath);
  const spooledTail = readOrEmpty(tailSpoolPath(spoolPath));
  const newline = spooledTail.indexOf(0x0a);
  const total = newline > 0 ? Number(spooledTail.subarray(0, newline).toString('latin1')) : NaN;
  // No tail spooled (the stream fit in its head, or it died first), or a damaged one: the head alone.
  if (!Number.isSafeInteger(total)) return headAndTail(head, Buffer.alloc(0), head.length);
  return headAndTail(head, spooledTail.subarray(newline + 1), Math.max(total, head.length));
}

function readOrEmpty(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** How many continuation bytes (the rest of a character cut off before them) start `bytes`, at most 3. */
function leadingContinuationBytes(bytes: Buffer): number {
  let count = 0;
  while (count < 3 && count < bytes.length && (bytes[count]! & 0xc0) === 0x80) count++;
  return count;
}
