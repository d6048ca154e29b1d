import { describe, expect, it } from 'vitest';
import { formatByteSize, parseByteSize } from '../../src/core/byte-size.js';
import { SchedulerError } from '../../src/core/errors.js';

describe('parseByteSize', () => {
  it.each([
    ['0', 0],
    ['1048576', 1_048_576],
    ['100b', 100],
    ['100B', 100],
    ['512KiB', 512 * 1024],
    ['1MiB', 1024 ** 2],
    ['2GiB', 2 * 1024 ** 3],
    ['1k', 1024],
    ['1M', 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1kb', 1000],
    ['1.5MB', 1_500_000],
    ['3GB', 3e9],
    ['1mib', 1024 ** 2],
    ['  64 KiB ', 64 * 1024],
    ['1.5', 1], // whole bytes, rounded down
    ['1.5KiB', 1536],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseByteSize(text, '--output-cap')).toBe(bytes);
  });

  it.each(['', 'abc', '-1', '1TB', '1.5.5MB', 'KiB', '1 MiB extra', '0x10', '1e6'])('%j is refused', (text) => {
    let thrown: unknown;
    try {
      parseByteSize(text, '--output-cap');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SchedulerError);
    expect((thrown as SchedulerError).code).toBe('invalid_request');
    expect((thrown as SchedulerError).message.startsWith('--output-cap: ')).toBe(true);
  });
});

describe('formatByteSize', () => {
  it('uses the largest binary unit that keeps the number at least 1, and reads back as the same size', () => {
    expect(formatByteSize(0)).toBe('0B');
    expect(formatByteSize(512)).toBe('512B');
    expect(formatByteSize(64 * 1024)).toBe('64KiB');
    expect(formatByteSize(1.5 * 1024 ** 2)).toBe('1.5MiB');
    expect(formatByteSize(2 * 1024 ** 3)).toBe('2GiB');
    for (const size of ['256MiB', '1KiB', '3GiB', '100B']) expect(formatByteSize(parseByteSize(size, 'x'))).toBe(size);
  });
});
