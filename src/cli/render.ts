/** How the CLI shows times, durations and tables to people. */
import { formatDuration } from '../protocol/formats.js';

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
export function table(header: string[], rows: readonly string[][], width: number): string {
  const layout = new TableLayout(header, width);
  return layout.lines(rows).join('\n');
}

/**
 * A table printed a page at a time, for lists too long to hold (`scheduler list` of a
 * million tasks). The header comes with the first page. Each column is as wide as its widest
 * cell so far: a later page may widen a column (never narrow it), so rows printed earlier
 * are never waited for. Widths are counted cell by cell, without spreading a page into a
 * call's arguments (which overflows the stack at a few hundred thousand rows).
 */
export class TableLayout {
  private readonly widths: number[];
  private headerPrinted = false;

  constructor(
    private readonly header: readonly string[],
    private readonly width: number,
  ) {
    this.widths = header.slice(0, -1).map((title) => title.length);
  }

  /** The lines of `rows` (after the header, the first time), aligned as far as this page. */
  lines(rows: readonly string[][]): string[] {
    for (const row of rows) {
      for (let column = 0; column < this.widths.length; column += 1) {
        const length = (row[column] ?? '').length;
        if (length > this.widths[column]!) this.widths[column] = length;
      }
    }
    const used = this.widths.reduce((sum, w) => sum + w + 2, 0);
    const lastWidth = Math.max(10, this.width - used);
    const lines: string[] = [];
    if (!this.headerPrinted) {
      lines.push(this.line(this.header, lastWidth));
      this.headerPrinted = true;
    }
    for (const row of rows) lines.push(this.line(row, lastWidth));
    return lines;
  }

  private line(row: readonly string[], lastWidth: number): string {
    const cells = this.widths.map((w, column) => (row[column] ?? '').padEnd(w));
    cells.push(oneLine(row.at(-1) ?? '', lastWidth));
    return cells.join('  ').trimEnd();
  }
}
