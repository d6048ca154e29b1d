/**
 * Go-style durations ("300ms", "1h30m", "1.5h"), the spec's `-time` syntax. Parsed to whole
 * milliseconds, the resolution the scheduler works at; sub-millisecond parts are rounded.
 */
import { SchedulerError } from './errors.js';

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const segment = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** The longest duration accepted: about 100 years, far below where milliseconds lose precision. */
export const maxDurationMs = 100 * 365 * 24 * 3_600_000;

/** Parses a Go-style duration into milliseconds; throws invalid_request naming `field`. */
export function parseDuration(text: string, field = 'time'): number {
  const fail = (why: string): never => {
    throw new SchedulerError(
      'invalid_request',
      `${field}: "${text}" is not a valid duration (${why}); use Go-style durations such as 300ms, 10s, 1m, 1h30m or 1.5h`,
    );
  };
  if (text === '0') return 0;
  if (text.length === 0) fail('it is empty');
  if (text.startsWith('-')) fail('it is negative');
  let total = 0;
  segment.lastIndex = text.startsWith('+') ? 1 : 0;
  while (segment.lastIndex < text.length) {
    const start = segment.lastIndex;
    const match = segment.exec(text);
    if (!match) fail(`unexpected "${text.slice(start)}"`);
    const [, amount, unit] = match as RegExpExecArray;
    total += Number(amount) * unitMs[unit as string]!;
  }
  if (!Number.isFinite(total) || total > maxDurationMs) fail('it is longer than 100 years');
  return Math.round(total);
}

/** Formats milliseconds the Go way, shortest first: 1500 -> "1.5s", 5400000 -> "1h30m0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  let text = '';
  if (hours > 0) text += `${hours}h`;
  if (hours > 0 || minutes > 0) text += `${minutes}m`;
  return `${text}${Number(seconds.toFixed(3))}s`;
}
