/**
 * A second thread for writing one frame to many sockets at once: with thousands of watchers
 * of one task, a change's fan-out is thousands of write(2) calls, each mostly the kernel's
 * loopback or TCP send path (about 5 us here), so one thread writing them all is what makes
 * the last watcher late. The helper thread writes a share of the sockets with write(2) on
 * their file descriptors while the main thread writes the rest as usual, and the main thread
 * waits for it before going on.
 *
 * Why this keeps every stream's bytes in order: the helper writes only to sockets with
 * nothing queued in Node (their queue is empty, so its bytes come next), and the main thread
 * neither writes to nor closes any socket until the helper has finished (it waits on a
 * shared word), so no descriptor can be closed or reused under the helper. What the helper
 * could not write at once (a full socket buffer, an error) is handed back and written through
 * the socket as usual, queued in order or failing the usual way.
 */
import { once } from 'node:events';
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
/** Sockets the helper takes in one hand-over at most; the main thread writes the rest. */
export const maxSocketsPerHandOver = 16 * 1024;

const idle = 0;
const working = 1;

// The helper thread: waits for work, writes the frame to each descriptor, says how much it
// wrote (0 on any error: the main thread then writes through the socket, which reports it).
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
  for (let index = 0; index < count; index++) {
    try {
      written[index] = writeSync(fds[index], frame, 0, length);
    } catch {
      written[index] = 0;
    }
  }
  Atomics.store(control, 0, ${idle});
  Atomics.notify(control, 0);
}
`;

/** The helper thread and the memory it shares with the main thread. */
export class ParallelWriter {
  private readonly options: ParallelWriterOptions;
  private readonly worker: Worker;
  /** [state, sockets handed over, frame length] */
  private readonly control = new Int32Array(new SharedArrayBuffer(3 * 4));
  private readonly frame = new Uint8Array(new SharedArrayBuffer(maxHelperFrameBytes));
  private readonly fds = new Int32Array(new SharedArrayBuffer(maxSocketsPerHandOver * 4));
  private readonly written = new Int32Array(new SharedArrayBuffer(maxSocketsPerHandOver * 4));
  /** Once the thread runs, until it ends or is given up: a hand-over never waits for a thread to start. */
  private usable = false;
  private handing = 0;
  private sockets = 0;
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

  /** Bytes the helper wrote so far. */
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

  /** Starts the helper writing `frame` to `fds` (at most maxSocketsPerHandOver; frame at most maxHelperFrameBytes). */
  start(frame: Buffer, fds: readonly number[]): void {
    this.frame.set(frame);
    this.control[2] = frame.length;
    for (let index = 0; index < fds.length; index++) this.fds[index] = fds[index]!;
    this.control[1] = fds.length;
    this.sockets += fds.length;
    this.handing = fds.length;
    Atomics.store(this.control, 0, working);
    Atomics.notify(this.control, 0);
  }

  /**
   * Waits for the helper to finish: the bytes it wrote to each descriptor, in the order
   * handed over. Undefined if it did not finish within waitMs: it is then given up for good
   * (terminated), and what it wrote is unknown.
   */
  finish(): Int32Array | undefined {
    if (Atomics.wait(this.control, 0, working, this.options.waitMs) !== 'timed-out') {
      for (let index = 0; index < this.handing; index++) this.bytes += this.written[index]!;
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
