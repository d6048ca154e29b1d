/**
 * OutputCapture on its own: what it keeps of a stream (all of it under the cap, else the
 * head and the tail with the middle counted), what it hands the listener (every byte, cut at
 * UTF-8 character boundaries, at contiguous offsets), and what it spools (the head as it
 * comes, the tail every interval) and what a crash lets recoverCapture rebuild from that.
 * Caps are tiny so that every boundary can be placed by hand.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CapturedOutput } from '../../src/core/task.js';
import { incompleteCharacterAtEnd as incompleteUtf8Tail } from '../../src/core/output-window.js';
import { headSpoolDelayMs, OutputCapture, recoverCapture, tailSpoolIntervalMs, tailSpoolPath } from '../../src/runner/output-capture.js';

let dir: string;
let spools = 0;
const open: OutputCapture[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scheduler-capture-test-'));
});

afterEach(async () => {
  for (const capture of open.splice(0)) await capture.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** One chunk the listener was handed. */
interface Delivered {
  offset: number;
  bytes: Buffer;
}

/** A capture with a fresh spool path, and (unless `listen` is false) a listener that records every chunk. */
function capture(cap: number, listen = true): { capture: OutputCapture; spoolPath: string; delivered: Delivered[] } {
  const spoolPath = join(dir, `spool-${++spools}`);
  const made = new OutputCapture(cap, spoolPath);
  open.push(made);
  const delivered: Delivered[] = [];
  if (listen) made.listener = (offset, chunk) => delivered.push({ offset, bytes: Buffer.from(chunk) });
  return { capture: made, spoolPath, delivered };
}

/** Writes `input` cut into chunks of the given sizes (the last chunk takes the rest). */
function writeInChunks(target: OutputCapture, input: Buffer, sizes: number[]): void {
  let at = 0;
  for (const size of sizes) {
    if (at >= input.length) break;
    target.write(input.subarray(at, at + size));
    at += size;
  }
  if (at < input.length) target.write(input.subarray(at));
}

/** What a capture of `input` must keep with cap `cap`, for input with no multibyte character at the seam. */
function expectedCapture(input: Buffer, cap: number): CapturedOutput {
  if (input.length <= cap) return { text: input.toString('utf8'), totalBytes: input.length, droppedBytes: 0, droppedAt: 0 };
  const head = Math.ceil(cap / 2);
  const tail = Math.floor(cap / 2);
  return {
    text: input.subarray(0, head).toString('utf8') + input.subarray(input.length - tail).toString('utf8'),
    totalBytes: input.length,
    droppedBytes: input.length - head - tail,
    droppedAt: head,
  };
}

/** Checks the listener's chunks: contiguous from offset 0, each whole UTF-8 text, together `input`. */
function expectDeliveredWhole(delivered: Delivered[], input: Buffer): void {
  let offset = 0;
  for (const chunk of delivered) {
    expect(chunk.offset, 'each chunk begins where the one before ended').toBe(offset);
    expect(chunk.bytes.length, 'no empty chunk').toBeGreaterThan(0);
    // Whole characters: decoding and re-encoding gives the same bytes (a cut one would become U+FFFD).
    expect(Buffer.from(chunk.bytes.toString('utf8')).equals(chunk.bytes), `chunk at ${chunk.offset} is whole characters`).toBe(true);
    offset += chunk.bytes.length;
  }
  expect(Buffer.concat(delivered.map((chunk) => chunk.bytes)).equals(input), 'the chunks together are the input').toBe(true);
}

/** A small deterministic generator of chunk sizes (1..max). */
function chunkSizes(seed: number, count: number, max: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 1 + (state % max);
  });
}

describe('OutputCapture: what is kept', () => {
  it('keeps everything under the cap, and at exactly the cap', () => {
    const under = capture(10).capture;
    under.write(Buffer.from('abc'));
    under.write(Buffer.from('defg'));
    expect(under.result()).toEqual({ text: 'abcdefg', totalBytes: 7, droppedBytes: 0, droppedAt: 0 });

    const exact = capture(10).capture;
    exact.write(Buffer.from('01234'));
    exact.write(Buffer.from('56789'));
    expect(exact.result()).toEqual({ text: '0123456789', totalBytes: 10, droppedBytes: 0, droppedAt: 0 });
  });

  it('keeps nothing from a stream that printed nothing', () => {
    expect(capture(10).capture.result()).toEqual({ text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 });
  });

  it('one chunk over the cap: the first ceil(cap/2) bytes and the last floor(cap/2), the middle counted', () => {
    const even = capture(6).capture;
    even.write(Buffer.from('0123456789'));
    expect(even.result()).toEqual({ text: '012789', totalBytes: 10, droppedBytes: 4, droppedAt: 3 });

    const odd = capture(7).capture;
    odd.write(Buffer.from('0123456789'));
    expect(odd.result()).toEqual({ text: '0123789', totalBytes: 10, droppedBytes: 3, droppedAt: 4 });
  });

  it('one byte over the cap drops exactly one byte', () => {
    const one = capture(6).capture;
    one.write(Buffer.from('abcdefg'));
    expect(one.result()).toEqual({ text: 'abcefg', totalBytes: 7, droppedBytes: 1, droppedAt: 3 });
  });

  it('many one-byte chunks over the cap', () => {
    const { capture: many } = capture(6);
    for (const letter of 'abcdefghijklmnopqrstuvwxyz') many.write(Buffer.from(letter));
    expect(many.result()).toEqual({ text: 'abcxyz', totalBytes: 26, droppedBytes: 20, droppedAt: 3 });
  });

  it('a cap of 1 keeps the first byte only', () => {
    const { capture: tiny } = capture(1);
    tiny.write(Buffer.from('ab'));
    tiny.write(Buffer.from('c'));
    expect(tiny.result()).toEqual({ text: 'a', totalBytes: 3, droppedBytes: 2, droppedAt: 1 });
  });

  it('a cap of 0 keeps nothing, counts everything, spools nothing, and still hands every byte to the listener', () => {
    const { capture: none, spoolPath, delivered } = capture(0);
    none.write(Buffer.from('hello '));
    none.write(Buffer.from('world'));
    expect(none.result()).toEqual({ text: '', totalBytes: 11, droppedBytes: 11, droppedAt: 0 });
    expect(existsSync(spoolPath)).toBe(false);
    expectDeliveredWhole(delivered, Buffer.from('hello world'));
  });

  it('the tail ring wraps: the last bytes are kept in order across chunks of every size', () => {
    const input = Buffer.from('The quick brown fox jumps over the lazy dog, then naps: 0123456789!');
    for (const cap of [2, 3, 4, 5, 8, 9, 16, 17]) {
      for (const seed of [1, 7, 42, 1234]) {
        for (const max of [1, 2, 3, cap - 1, cap, cap + 1, 2 * cap]) {
          const sizes = chunkSizes(seed, input.length, Math.max(1, max));
          const { capture: made } = capture(cap, false);
          writeInChunks(made, input, sizes);
          expect(made.result(), `cap ${cap}, chunks ${sizes.slice(0, 12).join(',')}…`).toEqual(expectedCapture(input, cap));
        }
      }
    }
  });

  it('a chunk larger than the whole tail after a partly filled tail keeps only its own last bytes', () => {
    const { capture: made } = capture(8); // head 4, tail 4
    made.write(Buffer.from('abcdef')); // head abcd, tail ef
    made.write(Buffer.from('g')); // tail efg
    made.write(Buffer.from('0123456789')); // tail 6789
    expect(made.result()).toEqual({ text: 'abcd6789', totalBytes: 17, droppedBytes: 9, droppedAt: 4 });
  });
});

describe('OutputCapture: the seam between head and tail', () => {
  const euro = Buffer.from('€'); // e2 82 ac
  const grin = Buffer.from('😀'); // f0 9f 98 80

  it('trims a character the head ends inside, and continuation bytes the tail begins with, counting them as dropped', () => {
    // cap 6: the head is 'a' 'b' e2 (the € cut after its first byte), the tail is ac 'y' 'z'.
    const input = Buffer.concat([Buffer.from('ab'), euro, Buffer.from('MIDDLE'), euro, Buffer.from('yz')]);
    const { capture: made } = capture(6);
    made.write(input);
    expect(made.result()).toEqual({ text: 'abyz', totalBytes: input.length, droppedBytes: input.length - 4, droppedAt: 2 });
  });

  it('trims a 4-byte character cut at either side of the seam', () => {
    // cap 8: head 'x' + 3 bytes of 😀; tail: the last byte of 😀 then 'end'.
    const input = Buffer.concat([Buffer.from('x'), grin, Buffer.from('..........'), grin, Buffer.from('end')]);
    const { capture: made } = capture(8);
    writeInChunks(made, input, [2, 1, 5, 3]);
    expect(made.result()).toEqual({ text: 'xend', totalBytes: input.length, droppedBytes: input.length - 4, droppedAt: 1 });
  });

  it('keeps whole characters that end exactly at the seam', () => {
    // cap 6: the head is 'aé' and the tail 'éz', each exactly 3 bytes of whole characters.
    const input = Buffer.from('aé----éz');
    const { capture: made } = capture(6);
    made.write(input);
    expect(made.result()).toEqual({ text: 'aééz', totalBytes: input.length, droppedBytes: input.length - 6, droppedAt: 3 });
  });

  it('keeps a character split between head and tail whole when nothing was dropped', () => {
    // cap 6: head 'a' 'b' e2, tail 82 ac 'c': every byte kept, so the € is whole again.
    const input = Buffer.concat([Buffer.from('ab'), euro, Buffer.from('c')]);
    const { capture: made } = capture(6);
    writeInChunks(made, input, [3, 1, 2]);
    expect(made.result()).toEqual({ text: 'ab€c', totalBytes: 6, droppedBytes: 0, droppedAt: 0 });
  });
});

describe('OutputCapture: the listener', () => {
  const text = 'aé€😀b — ünïcödé ✓ 日本語 😀😀 end';
  const input = Buffer.from(text);

  it('is handed whole characters at contiguous offsets, whatever the chunking, and all of them', () => {
    // Every single cut point, and cuts into one-byte chunks.
    for (let cut = 1; cut < input.length; cut++) {
      const { capture: made, delivered } = capture(1000);
      made.write(input.subarray(0, cut));
      made.write(input.subarray(cut));
      expectDeliveredWhole(delivered, input);
    }
    const { capture: bytewise, delivered } = capture(1000);
    writeInChunks(bytewise, input, Array.from({ length: input.length }, () => 1));
    expectDeliveredWhole(delivered, input);
    // A 4-byte character written one byte at a time arrives once, whole.
    expect(delivered.filter((chunk) => chunk.bytes.toString('utf8') === '😀')).toHaveLength(3);
  });

  it('gets every byte even beyond the cap, with the offsets of the whole stream', () => {
    for (const seed of [3, 5, 11]) {
      const { capture: made, delivered } = capture(4);
      writeInChunks(made, input, chunkSizes(seed, input.length, 5));
      expectDeliveredWhole(delivered, input);
      expect(made.result().totalBytes).toBe(input.length);
    }
  });

  it('holds back a character cut by a chunk boundary until its last byte comes', () => {
    const { capture: made, delivered } = capture(100);
    made.write(Buffer.from([0x61, 0xe2])); // 'a' and the first byte of €
    expect(delivered).toEqual([{ offset: 0, bytes: Buffer.from('a') }]);
    made.write(Buffer.from([0x82]));
    expect(delivered).toHaveLength(1);
    made.write(Buffer.from([0xac, 0x62])); // the end of €, and 'b'
    expect(delivered).toEqual([
      { offset: 0, bytes: Buffer.from('a') },
      { offset: 1, bytes: Buffer.from('€b') },
    ]);
  });

  it('flush hands over what is held back at the end of the stream (an incomplete character)', () => {
    const { capture: made, delivered } = capture(100);
    made.write(Buffer.from([0x6f, 0x6b, 0xf0, 0x9f])); // 'ok' then half of 😀: the stream ends there
    expect(delivered).toEqual([{ offset: 0, bytes: Buffer.from('ok') }]);
    made.flush();
    expect(delivered).toEqual([
      { offset: 0, bytes: Buffer.from('ok') },
      { offset: 2, bytes: Buffer.from([0xf0, 0x9f]) },
    ]);
    made.flush(); // nothing more
    expect(delivered).toHaveLength(2);
  });

  it('close flushes what is held back too', async () => {
    const { capture: made, delivered } = capture(100);
    made.write(Buffer.from([0x61, 0xc3])); // 'a' and half of é
    await made.close();
    expect(delivered).toEqual([
      { offset: 0, bytes: Buffer.from('a') },
      { offset: 1, bytes: Buffer.from([0xc3]) },
    ]);
  });

  it('bytes that are not UTF-8 at all are not held back for ever', () => {
    const { capture: made, delivered } = capture(100);
    const binary = Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x41, 0xfe]);
    made.write(binary);
    made.flush();
    expect(Buffer.concat(delivered.map((chunk) => chunk.bytes)).equals(binary)).toBe(true);
    expect(delivered.map((chunk) => chunk.offset)).toEqual(delivered.map((_, index) => delivered.slice(0, index).reduce((sum, c) => sum + c.bytes.length, 0)));
  });
});

describe('OutputCapture: delivered()', () => {
  it('leaves out the bytes held back, so that its totalBytes is the offset of the next chunk', () => {
    const { capture: made, delivered } = capture(100);
    made.write(Buffer.from([0x61, 0x62, 0xe2, 0x82])); // 'ab' and two bytes of €
    expect(made.delivered()).toEqual({ text: 'ab', totalBytes: 2, droppedBytes: 0, droppedAt: 0 });
    expect(made.result().totalBytes).toBe(4);
    made.write(Buffer.from([0xac, 0x21])); // the end of €, and '!'
    expect(delivered.at(-1)).toEqual({ offset: 2, bytes: Buffer.from('€!') });
    expect(made.delivered()).toEqual({ text: 'ab€!', totalBytes: 6, droppedBytes: 0, droppedAt: 0 });
  });

  it('follows the listener across the cap: after every write, totalBytes is where the next chunk begins', () => {
    const input = Buffer.from('héllo wörld, 😀 and € and more text after the cap ✓');
    for (const cap of [0, 1, 4, 7, 12]) {
      const { capture: made, delivered } = capture(cap);
      for (const size of chunkSizes(cap + 1, input.length, 3)) {
        const at = delivered.reduce((sum, chunk) => sum + chunk.bytes.length, 0);
        expect(made.delivered().totalBytes, `cap ${cap}`).toBe(at);
        const written = made.result().totalBytes;
        if (written >= input.length) break;
        made.write(input.subarray(written, written + size));
        const next = made.delivered();
        expect(next.totalBytes, `cap ${cap}`).toBe(delivered.reduce((sum, chunk) => sum + chunk.bytes.length, 0));
        // What it reports is consistent: the kept bytes and the dropped ones make the total,
        // and a drop position is given only when something was dropped.
        expect(Buffer.byteLength(next.text) + next.droppedBytes, `cap ${cap}`).toBe(next.totalBytes);
        if (next.droppedBytes === 0) expect(next.droppedAt, `cap ${cap}: droppedAt with nothing dropped`).toBe(0);
      }
    }
  });

  it('reports bytes dropped from the middle the way result() does', () => {
    const { capture: made } = capture(6);
    made.write(Buffer.from('0123456789'));
    expect(made.delivered()).toEqual({ text: '012789', totalBytes: 10, droppedBytes: 4, droppedAt: 3 });
  });

  it('with no listener, holds nothing back: it is result()', () => {
    const { capture: made } = capture(100, false);
    made.write(Buffer.from([0x61, 0xe2, 0x82]));
    expect(made.delivered()).toEqual(made.result());
    expect(made.delivered().totalBytes).toBe(3);
  });

  // The withheld bytes span the end of the head and a tail shorter than them: both are trimmed.
  it('a character held back across the head and the tail, nothing dropped: reports no drop', () => {
    // cap 6: head 'a' 'b' e2, tail 82; the € is held back from the listener, nothing was dropped.
    const { capture: made, delivered } = capture(6);
    made.write(Buffer.from([0x61, 0x62, 0xe2, 0x82]));
    expect(delivered).toEqual([{ offset: 0, bytes: Buffer.from('ab') }]);
    expect(made.delivered()).toEqual({ text: 'ab', totalBytes: 2, droppedBytes: 0, droppedAt: 0 });
  });
});

describe('OutputCapture: the spool file', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gets the head only, under the cap and over it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const small = capture(6);
    small.capture.write(Buffer.from('ab'));
    const partTail = capture(6);
    writeInChunks(partTail.capture, Buffer.from('01234'), [1, 3]);
    const over = capture(6);
    writeInChunks(over.capture, Buffer.from('0123456789abcdef'), [2, 2, 5]);
    vi.advanceTimersByTime(headSpoolDelayMs);
    vi.useRealTimers();
    for (const made of [small, partTail, over]) await made.capture.close();
    expect(readFileSync(small.spoolPath, 'utf8')).toBe('ab');
    expect(readFileSync(partTail.spoolPath, 'utf8')).toBe('012');
    expect(readFileSync(over.spoolPath, 'utf8')).toBe('012');
    // The capture itself still has the tail.
    expect(over.capture.result().text).toBe('012def');
  });

  it('is not created for a stream that printed nothing', async () => {
    const { capture: made, spoolPath } = capture(6);
    await made.close();
    expect(existsSync(spoolPath)).toBe(false);
  });

  it('is not created for a stream that ended within headSpoolDelayMs of its first byte', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(6);
    made.write(Buffer.from('ab'));
    vi.advanceTimersByTime(headSpoolDelayMs - 1);
    vi.useRealTimers();
    await made.close();
    expect(existsSync(spoolPath)).toBe(false);
    expect(made.spooledFiles()).toEqual([]);
  });

  it('is opened headSpoolDelayMs after the first byte with the head kept so far, then appended to as the head grows', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(10);
    made.write(Buffer.from('ab'));
    made.write(Buffer.from('c'));
    expect(existsSync(spoolPath)).toBe(false);
    vi.advanceTimersByTime(headSpoolDelayMs);
    vi.useRealTimers();
    made.write(Buffer.from('defghij'));
    await made.close();
    // The head is the first 5 bytes of a cap of 10.
    expect(readFileSync(spoolPath, 'utf8')).toBe('abcde');
    expect(made.spooledFiles()).toEqual([spoolPath]);
  });
});

describe('OutputCapture: the spooled tail, and recoverCapture after a crash', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Lets the interval pass, and waits for the tail write it starts (close() waits for one in progress). */
  async function spoolTailNow(made: OutputCapture): Promise<void> {
    vi.advanceTimersByTime(tailSpoolIntervalMs);
    vi.useRealTimers();
    await made.close();
  }

  it('a stream within its head spools no tail, and is recovered whole', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(6);
    made.write(Buffer.from('abc'));
    await spoolTailNow(made);
    expect(existsSync(tailSpoolPath(spoolPath))).toBe(false);
    expect(recoverCapture(spoolPath)).toEqual(made.result());
  });

  it('a stream beyond its head has its tail spooled once per interval, and is recovered as the capture has it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(6);
    writeInChunks(made, Buffer.from('0123456789abcdef'), [2, 2, 5]);
    // Before the interval has passed, no tail: a crash now would leave the head alone.
    expect(existsSync(tailSpoolPath(spoolPath))).toBe(false);
    await spoolTailNow(made);
    expect(recoverCapture(spoolPath)).toEqual(made.result());
    expect(made.result()).toEqual({ text: '012def', totalBytes: 16, droppedBytes: 10, droppedAt: 3 });
  });

  it('cuts head and tail at whole characters at the seam, as the capture does', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(8);
    made.write(Buffer.from('aé€xxxxxxxx😀b'));
    await spoolTailNow(made);
    const recovered = recoverCapture(spoolPath);
    expect(recovered).toEqual(made.result());
    expect(recovered.text).not.toContain('\uFFFD');
  });

  it('output after the last spooled tail is lost to a crash, and counted as of that tail', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { capture: made, spoolPath } = capture(6);
    made.write(Buffer.from('0123456789'));
    vi.advanceTimersByTime(tailSpoolIntervalMs);
    vi.useRealTimers();
    await vi.waitFor(() => expect(existsSync(tailSpoolPath(spoolPath))).toBe(true));
    const atSpool = made.result();
    made.write(Buffer.from('ZZ'));
    expect(recoverCapture(spoolPath)).toEqual(atSpool);
  });

  it('a damaged tail file is ignored: the head alone is recovered', () => {
    const spoolPath = join(dir, `damaged-${++spools}`);
    writeFileSync(spoolPath, 'head');
    writeFileSync(tailSpoolPath(spoolPath), 'no count here');
    expect(recoverCapture(spoolPath)).toEqual({ text: 'head', totalBytes: 4, droppedBytes: 0, droppedAt: 0 });
    expect(recoverCapture(join(dir, 'nothing-spooled'))).toEqual({ text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 });
  });
});

describe('incompleteUtf8Tail', () => {
  it.each([
    ['empty', [], 0],
    ['ASCII', [0x61], 0],
    ['a whole é', [0xc3, 0xa9], 0],
    ['the lead of é', [0x61, 0xc3], 1],
    ['two bytes of €', [0xe2, 0x82], 2],
    ['a whole €', [0xe2, 0x82, 0xac], 0],
    ['three bytes of 😀', [0xf0, 0x9f, 0x98], 3],
    ['a whole 😀', [0xf0, 0x9f, 0x98, 0x80], 0],
    ['stray continuation bytes', [0x80, 0x80, 0x80, 0x80], 0],
  ])('%s', (_label, bytes, expected) => {
    expect(incompleteUtf8Tail(Buffer.from(bytes as number[]))).toBe(expected);
  });
});
