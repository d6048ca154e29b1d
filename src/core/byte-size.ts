/** Byte sizes as people write them: "1048576", "512KiB", "1MiB", "1.5MB". */
import { SchedulerError } from './errors.js';

const unitBytes: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/** Parses a byte size; throws invalid_request naming `field`. */
export function parseByteSize(text: string, field: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const factor = match ? unitBytes[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new SchedulerError('invalid_request', `${field}: "${text}" is not a size; write bytes, or e.g. 512KiB or 1MiB`);
  }
  return Math.floor(Number(match[1]) * factor);
}

/** "512B", "64KiB", "1.5MiB", "2GiB": the largest binary unit that keeps the number at least 1. */
export function formatByteSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(2))}${units[unit]}`;
}
