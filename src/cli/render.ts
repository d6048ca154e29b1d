/** How the CLI shows times, durations and tables to people. */
import { formatDuration } from '../core/duration.js';

/** "2026-11-25 10:01:10" in local time, or "-" for none. */
export function localTime(iso: string | null): string {
  if (iso === null) return '-';
  const date = new Date(iso);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** "in 9.5s", "now" or "3m0s ago", relative to `now` (to the tenth of a second). */
export function relativeTime(iso: string | null, now: number): string {
  if (iso === null) return '-';
  const delta = Math.round((Date.parse(iso) - now) / 100) * 100;
  if (delta === 0) return 'now';
  const span = formatDuration(Math.abs(delta));
  return delta > 0 ? `in ${span}` : `${span} ago`;
}

/** A script on one line, cut to `width` characters with an ellipsis. */
export function oneLine(text: string, width: number): string {
  const flat = text.replace(/\s*\n\s*/g, '; ');
  if (width <= 1) return flat.length > 0 ? '…' : '';
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/**
 * Lays out rows as aligned columns. The last column takes what is left of `width` and is
 * cut to fit, so a long script never wraps the table.
 */
export function table(header: string[], rows: string[][], width: number): string {
  const all = [header, ...rows];
  const fixed = header.slice(0, -1).map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  const used = fixed.reduce((sum, w) => sum + w + 2, 0);
  const lastWidth = Math.max(10, width - used);
  return all
    .map((row) =>
      [...fixed.map((w, column) => (row[column] ?? '').padEnd(w)), oneLine(row.at(-1) ?? '', lastWidth)]
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
