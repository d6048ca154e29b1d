/** The line reader of POST /api/import: lines split across chunks, CRLF, blank lines, and the bound on a line. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { ndjsonLines, type NdjsonLine } from '../../src/server/transfer/ndjson-lines.js';

async function linesOf(chunks: string[], maxLineBytes = 1000): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  for await (const line of ndjsonLines(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), maxLineBytes)) lines.push(line);
  return lines;
}

describe('ndjsonLines', () => {
  it('joins a line split across chunks, and numbers lines from 1, blank ones included', async () => {
    expect(await linesOf(['{"a":', '1}\n\n{"b"', ':2}\r\n', '{"c":3}'])).toEqual([
      { number: 1, text: '{"a":1}' },
      { number: 3, text: '{"b":2}' },
      { number: 4, text: '{"c":3}' },
    ]);
  });

  it('keeps a multi-byte character split between chunks whole', async () => {
    const bytes = Buffer.from('{"s":"é"}\n');
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7)];
    const lines: NdjsonLine[] = [];
    for await (const line of ndjsonLines(Readable.from(chunks), 100)) lines.push(line);
    expect(lines).toEqual([{ number: 1, text: '{"s":"é"}' }]);
  });

  it('refuses a line longer than the bound with payload_too_large, naming it, before holding it whole', async () => {
    const error = await linesOf(['{"ok":1}\n', 'x'.repeat(60), 'x'.repeat(60), '\n'], 100).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('payload_too_large');
    expect((error as SchedulerError).message).toContain('line 2 is longer than 100 bytes');
  });
});
