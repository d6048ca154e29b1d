/**
 * A second thread for writing one frame to many sockets at once: with thousands of watchers
 * of one task, a change's fan-out is thousands of write(2) calls, each mostly the kernel's
 * loopback or TCP send path (about 5 us here), so one thread writing them all is what makes
 * the last watcher late. The sockets that can take a direct write are handed over as one list
 * of descriptors; the helper thread and the main thread then both claim chunks of it, in
 * order, from one shared counter, and write the frame with write(2), so that they finish
 * together whichever is given more CPU (the main thread's own socket writes, through Node's
 * stream machinery, cost it about twice the helper's; splitting by halves left it writing
 * alone for a third of the fan-out). The helper always takes the first chunk, so it writes
 * whenever it is given a hand-over. The main thread waits for it before going on (write()).
 *
 * Why this keeps every stream's bytes in order: only sockets with nothing queued in Node are
 * handed over (their queue is empty, so these bytes come next), and the main thread neither
 * writes to nor closes any socket through Node until the helper has finished (it waits on a
 * shared word), so no descriptor can be closed or reused under the helper. What a direct
 * write could not write at once (a full socket buffer, an error) is then written through the
 * socket as usual, queued in order or failing the usual way.
 */
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The helper's bounds. */
export interface ParallelWriterOptions {
  /** Below this many sockets the hand-over costs more than it saves. */
  minSockets: number;
  /** How long the main thread waits for the helper before giving it up (it never should: its writes do not block). */
  waitMs: number;
}

export const defaultParallelWriterOptions: ParallelWriterOptions = { minSockets: 512, waitMs: 10_000 };
/** Frames larger than this go through the main thread alone (they are copied into shared memory). */
export const maxHelperFrameBytes = 64 * 1024;
/** Sockets handed over in one fan-out at most; the main thread writes the rest through Node. */
export const maxSocketsPerHandOver = 16 * 1024;

const idle = 0;
const working = 1;
/**
 * Descriptors a thread claims at a time: few enough that both threads finish about together,
 * enough that the shared counter is rarely touched.
 */
export const chunkOfDescriptors = 32;

// The helper thread: waits for work, then claims chunks of the descriptors from the shared
// counter (the main thread claims from the same counter) and writes the frame to each, noting
// how much it wrote (0 on any error: the main thread then writes through the socket, which
// reports it).
const helperSource = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const control = new Int32Array(workerData.control);
const frame = new Uint8Array(workerData.frame);
const fds = new Int32Array(workerData.fds);
const written = new Int32Array(workerData.written);
for (;;) {
  Atomics.wait(control, 0, ${idle});
  const count = control[1];
  const length = control[2];
  let helperWrote = 0;
  // The first chunk is the helper's (start() has the counter begin after it).
  for (let from = 0; from < count; from = Atomics.add(control, 3, ${chunkOfDescriptors})) {
    const to = Math.min(count, from + ${chunkOfDescriptors});
    for (let index = from; index < to; index++) {
      try {
        written[index] = writeSync(fds[index], frame, 0, length);
      } catch {
        written[index] = 0;
      }
      helperWrote++;
    }
  }
  control[4] = helperWrote;
  Atomics.store(control, 0, ${idle});
  Atomics.notify(control, 0);
}
`;

/** The helper thread and the memory it shares with the main thread. */
export class ParallelWriter {
  private readonly options: ParallelWriterOptions;
  private readonly worker: Worker;
  /** [state, sockets handed over, frame length, next index to claim, sockets the helper wrote] */
  private readonly control = new Int32Array(new SharedArrayBuffer(5 * 4));
  private readonly frame = new Uint8Array(new SharedArrayBuffer(maxHelperFrameBytes));
  private readonly fds = new Int32Array(new SharedArrayBuffer(maxSocketsPerHandOver * 4));
  private readonly written = new Int32Array(new SharedArrayBuffer(maxSocketsPerHandOver * 4));
  /** Once the thread runs, until it ends or is given up: a hand-over never waits for a thread to start. */
  private usable = false;
  private sockets = 0;
  private byHelper = 0;
  private bytes = 0;

  constructor(options: Partial<ParallelWriterOptions> = {}) {
    this.options = { ...defaultParallelWriterOptions, ...options };
    this.worker = new Worker(helperSource, {
      eval: true,
      workerData: { control: this.control.buffer, frame: this.frame.buffer, fds: this.fds.buffer, written: this.written.buffer },
    });
    // It never keeps the daemon alive; should it fail to start or end (it has no way out of
    // its loop but a fault), writes go through the main thread alone.
    this.worker.unref();
    this.worker.once('online', () => (this.usable = true));
    this.worker.once('exit', () => (this.usable = false));
    this.worker.on('error', () => (this.usable = false));
  }

  /** Sockets handed over so far, all hand-overs together. */
  get handedOver(): number {
    return this.sockets;
  }

  /** Of those, the sockets the helper thread wrote to (the main thread wrote the others). */
  get writtenByHelper(): number {
    return this.byHelper;
  }

  /** Bytes written to the sockets handed over so far, by both threads. */
  get bytesWritten(): number {
    return this.bytes;
  }

  /** Resolves once the thread runs (hand-overs begin then). */
  async ready(): Promise<void> {
    if (!this.usable) await once(this.worker, 'online');
  }

  /** Whether writing a frame of `frameBytes` to `sockets` sockets is worth a hand-over. */
  suits(sockets: number, frameBytes: number): boolean {
    return this.usable && sockets >= this.options.minSockets && frameBytes <= maxHelperFrameBytes;
  }

  /**
   * Writes `frame` (at most maxHelperFrameBytes) to the sockets `fds` (at most
   * maxSocketsPerHandOver), the helper and this thread sharing them, and returns once both
   * are done: the bytes written to each descriptor, in the order given. Undefined if the
   * helper did not finish within waitMs: it is then given up for good (terminated), and what
   * was written is unknown.
   */
  write(frame: Buffer, fds: readonly number[]): Int32Array | undefined {
    if (fds.length === 0) return this.written.subarray(0, 0);
    this.start(frame, fds);
    this.writeShare();
    return this.finish();
  }

  /** Hands `frame` and `fds` over and wakes the helper, which takes the first chunk. */
  private start(frame: Buffer, fds: readonly number[]): void {
    this.frame.set(frame);
    this.control[2] = frame.length;
    for (let index = 0; index < fds.length; index++) this.fds[index] = fds[index]!;
    this.control[1] = fds.length;
    this.control[3] = chunkOfDescriptors;
    this.sockets += fds.length;
    Atomics.store(this.control, 0, working);
    Atomics.notify(this.control, 0);
  }

  /** This thread's share of the hand-over: claims chunks from the same counter as the helper and writes them. */
  private writeShare(): void {
    const count = this.control[1]!;
    const length = this.control[2]!;
    for (let from = Atomics.add(this.control, 3, chunkOfDescriptors); from < count; from = Atomics.add(this.control, 3, chunkOfDescriptors)) {
      const to = Math.min(count, from + chunkOfDescriptors);
      for (let index = from; index < to; index++) {
        try {
          this.written[index] = writeSync(this.fds[index]!, this.frame, 0, length);
        } catch {
          this.written[index] = 0;
        }
      }
    }
  }

  /** Waits for the helper to finish its share (see write). */
  private finish(): Int32Array | undefined {
    if (Atomics.wait(this.control, 0, working, this.options.waitMs) !== 'timed-out') {
      const count = this.control[1]!;
      for (let index = 0; index < count; index++) this.bytes += this.written[index]!;
      this.byHelper += this.control[4]!;
      return this.written;
    }
    this.usable = false;
    void this.worker.terminate();
    return undefined;
  }

  /** Ends the helper thread. */
  async close(): Promise<void> {
    this.usable = false;
    await this.worker.terminate();
  }
}
