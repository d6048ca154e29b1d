/**
 * Captures one output stream of a run: the first `cap` bytes are kept, the rest are counted
 * and dropped, so memory stays bounded however much a script prints. The kept bytes are also
 * appended to a spool file, so that the output of a run survives a crash of the daemon and
 * can be attached to the run when it is recorded as interrupted.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { CapturedOutput } from '../core/task.js';

/** Bounded capture of one stream, mirrored to a spool file. */
export class OutputCapture {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  private totalBytes = 0;
  private spool: WriteStream | undefined;
  /** Set when the spool file could not be opened or written: the capture goes on in memory. */
  private spoolFailed = false;

  constructor(
    private readonly cap: number,
    private readonly spoolPath: string,
  ) {}

  /** Takes the next chunk the script wrote. */
  write(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    const room = this.cap - this.keptBytes;
    if (room <= 0) return;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(kept);
    this.keptBytes += kept.length;
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
    if (!this.spoolFailed) this.spool.write(kept);
  }

  /** What was captured, as the run's result. */
  result(): CapturedOutput {
    return {
      text: Buffer.concat(this.chunks, this.keptBytes).toString('utf8'),
      totalBytes: this.totalBytes,
      truncated: this.totalBytes > this.keptBytes,
    };
  }

  /** Closes the spool file; its content is no longer needed once the run is recorded. */
  async close(): Promise<void> {
    const spool = this.spool;
    if (!spool || spool.destroyed) return;
    // 'close' follows the end of the file, and a failure too, so this settles either way.
    await new Promise<void>((resolve) => {
      spool.once('close', () => resolve());
      spool.end();
    });
  }
}
