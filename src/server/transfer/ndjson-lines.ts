/**
 * The lines of an NDJSON body, read from the request stream as they arrive, so that an import
 * of any size is held in memory one line at a time. A line longer than `maxLineBytes` is
 * refused (payload_too_large) before it is held whole.
 */
import type { Readable } from 'node:stream';
import { SchedulerError } from '../../core/errors.js';

/** One line of the body: its number (from 1) and its text, without the line break. */
export interface NdjsonLine {
  number: number;
  text: string;
}

/** The non-blank lines of `body`, in order. */
export async function* ndjsonLines(body: Readable, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  const line = (tail: Buffer): NdjsonLine | undefined => {
    number++;
    const bytes = Buffer.concat([...pending, tail]);
    pending = [];
    pendingBytes = 0;
    // A CRLF file is read as well as an LF one.
    const text = bytes.toString('utf8').replace(/\r$/, '');
    return text.trim().length === 0 ? undefined : { number, text };
  };
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
      checkLength(number + 1, pendingBytes + end - start, maxLineBytes);
      const found = line(chunk.subarray(start, end));
      if (found) yield found;
      start = end + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      checkLength(number + 1, pendingBytes, maxLineBytes);
    }
  }
  if (pendingBytes > 0) {
    const found = line(Buffer.alloc(0));
    if (found) yield found;
  }
}

function checkLength(number: number, bytes: number, maxLineBytes: number): void {
  if (bytes <= maxLineBytes) return;
  throw new SchedulerError(
    'payload_too_large',
    `line ${number} is longer than ${maxLineBytes} bytes, the longest line an import accepts; the lines before it were imported`,
  );
}
