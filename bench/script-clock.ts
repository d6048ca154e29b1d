/**
 * The script whose first act is to print its own wall clock, and the parser of what it
 * printed. bash's $EPOCHREALTIME (bash 5) reads the clock without forking a `date`, so the
 * figure measures when the script began, not when a child of it did.
 */

/** Prints the wall clock in seconds with microseconds, e.g. 1712345678.123456. */
export const clockScript = 'echo "$EPOCHREALTIME"';

/** Epoch milliseconds (fractional) from the script's output; NaN if it printed none. */
export function parseScriptClock(stdout: string): number {
  const text = stdout.trim().replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(text)) return Number.NaN;
  // `date +%s%N` prints whole nanoseconds; $EPOCHREALTIME prints seconds with a fraction.
  return text.includes('.') ? Number(text) * 1000 : Number(text) / 1e6;
}

/** Wall clock now in fractional epoch milliseconds (sub-millisecond resolution). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
