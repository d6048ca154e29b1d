/**
 * The frames the daemon and its executor (src/executor/scheduler-executor.c, whose header
 * describes each) exchange over the executor's stdin and stdout: a little-endian u32 length of
 * what follows, a u8 type, a u32 run id, and the payload.
 */

/** Daemon to executor. */
export const command = { spawn: 1, gate: 2, closeOutput: 3, gateAt: 4 } as const;
/** Executor to daemon. */
export const event = { spawned: 1, spawnFailed: 2, output: 3, eof: 4, exit: 5 } as const;
/** The output streams, as the executor numbers them. */
export const streamNumber = { stdout: 1, stderr: 2 } as const;

/** "Keep the executor's own", for a uid or gid. */
const keepId = 0xffffffff;

/** What the executor needs to spawn a process. */
export interface SpawnRequest {
  /** The program's path (no PATH search), then its arguments. */
  argv: readonly string[];
  env: readonly string[];
  /** Empty: the executor's own (the daemon's). */
  cwd: string;
  uid?: number;
  gid?: number;
}

function frame(type: number, id: number, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(9);
  header.writeUInt32LE(5 + payload.length, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32LE(id, 5);
  return Buffer.concat([header, payload]);
}

export function spawnFrame(id: number, request: SpawnRequest): Buffer {
  const numbers = Buffer.allocUnsafe(16);
  numbers.writeUInt32LE(request.uid ?? keepId, 0);
  numbers.writeUInt32LE(request.gid ?? keepId, 4);
  numbers.writeUInt32LE(request.argv.length, 8);
  numbers.writeUInt32LE(request.env.length, 12);
  // NUL ends each string, so none may hold one (the executor would cut it there).
  const strings = [request.cwd, ...request.argv, ...request.env].map((text) => {
    if (text.includes('\0')) throw Object.assign(new Error('an argument or environment variable holds a NUL byte'), { code: 'ERR_INVALID_ARG_VALUE' });
    return `${text}\0`;
  });
  return frame(command.spawn, id, Buffer.concat([numbers, Buffer.from(strings.join(''))]));
}

export function gateFrame(id: number, bytes: string): Buffer {
  return frame(command.gate, id, Buffer.from(bytes));
}

/** The gate's bytes, written by the executor at wall-clock time `atMs` (ms since the epoch), or at once if it has passed. */
export function gateAtFrame(id: number, bytes: string, atMs: number): Buffer {
  const micros = BigInt(Math.round(atMs * 1000));
  const payload = Buffer.alloc(8 + Buffer.byteLength(bytes));
  payload.writeBigUInt64LE(micros, 0);
  payload.write(bytes, 8);
  return frame(command.gateAt, id, payload);
}

export function closeOutputFrame(id: number): Buffer {
  return frame(command.closeOutput, id, Buffer.alloc(0));
}

/** One frame from the executor. */
export type ExecutorEvent =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'spawnFailed'; id: number; errno: number }
  | { type: 'output'; id: number; stream: 'stdout' | 'stderr'; bytes: Buffer }
  | { type: 'eof'; id: number; stream: 'stdout' | 'stderr' }
  | { type: 'exit'; id: number; code: number | null; signal: number | null; groupLeft: boolean };

/** Cuts the executor's stdout into events; a frame may arrive in pieces. */
export class EventReader {
  private pending: Buffer = Buffer.alloc(0);

  /** The events completed by `chunk`, in order. */
  push(chunk: Buffer): ExecutorEvent[] {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const events: ExecutorEvent[] = [];
    while (data.length >= 4) {
      const length = data.readUInt32LE(0);
      if (data.length < 4 + length) break;
      events.push(decode(data.subarray(4, 4 + length)));
      data = data.subarray(4 + length);
    }
    // What is left is part of a frame: copied, so that the chunk it came in is not kept for it.
    this.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
    return events;
  }
}

function streamOf(byte: number): 'stdout' | 'stderr' {
  return byte === streamNumber.stderr ? 'stderr' : 'stdout';
}

function decode(body: Buffer): ExecutorEvent {
  const type = body.readUInt8(0);
  const id = body.readUInt32LE(1);
  const payload = body.subarray(5);
  switch (type) {
    case event.spawned:
      return { type: 'spawned', id, pid: payload.readUInt32LE(0) };
    case event.spawnFailed:
      return { type: 'spawnFailed', id, errno: payload.readUInt32LE(0) };
    case event.output:
      return { type: 'output', id, stream: streamOf(payload.readUInt8(0)), bytes: payload.subarray(1) };
    case event.eof:
      return { type: 'eof', id, stream: streamOf(payload.readUInt8(0)) };
    case event.exit: {
      const killed = payload.readUInt8(0) === 2;
      const value = payload.readInt32LE(1);
      return { type: 'exit', id, code: killed ? null : value, signal: killed ? value : null, groupLeft: payload.readUInt8(5) === 1 };
    }
    default:
      throw new Error(`the executor sent a frame of unknown type ${type}`);
  }
}
