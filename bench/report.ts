/**
 * How figures are reported: each figure prints its supporting lines as it goes, and gives
 * rows for the one table printed at the end (figure, ours, the reference measured in the
 * same run, their ratio, the target, met or not). Nothing is asserted.
 */

/** One line of the final table. */
export interface Row {
  figure: string;
  ours: string;
  /** The same-run reference, or '' when the target is absolute or none is set. */
  reference: string;
  /** ours / reference, e.g. "1.23x", or ''. */
  ratio: string;
  target: string;
  /** null: no target set, or the reference could not be measured. */
  met: boolean | null;
}

/** What a figure gives back. */
export interface FigureReport {
  rows: Row[];
}

/** How much a figure measures: the full run, or the short `--quick` one. */
export interface BenchOptions {
  quick: boolean;
}

/** A target on the ratio of ours to the same-run reference. */
export type RatioTarget = { atMost: number } | { atLeast: number };

/** A row comparing `ours` with `reference` (both in the same unit), `format` printing either. */
export function ratioRow(figure: string, ours: number, reference: number | string, format: (value: number) => string, target: RatioTarget): Row {
  const targetText = 'atMost' in target ? `<= ${target.atMost}x ref` : `>= ${target.atLeast}x ref`;
  // A string reference says why it was not measured.
  if (typeof reference === 'string') return { figure, ours: format(ours), reference, ratio: '', target: targetText, met: null };
  const ratio = ours / reference;
  const met = 'atMost' in target ? ratio <= target.atMost : ratio >= target.atLeast;
  return { figure, ours: format(ours), reference: format(reference), ratio: `${ratio.toFixed(2)}x`, target: targetText, met };
}

/** A row with an absolute target. */
export function absoluteRow(figure: string, ours: string, target: string, met: boolean): Row {
  return { figure, ours, reference: '', ratio: '', target, met };
}

/** A row reported only. */
export function reportedRow(figure: string, ours: string, reference = '', ratio = ''): Row {
  return { figure, ours, reference, ratio, target: 'none set', met: null };
}

/** A figure that could not be measured at all. */
export function failedRow(figure: string, error: unknown): Row {
  const message = error instanceof Error ? error.message : String(error);
  return { figure, ours: `not measured: ${message.split('\n')[0]!.slice(0, 160)}`, reference: '', ratio: '', target: '', met: false };
}

/** Prints a detail line of the figure being measured. */
export function detail(line: string): void {
  console.log(`   ${line}`);
}

/** Prints the table of all rows. */
export function printTable(title: string, rows: readonly Row[]): void {
  const cells = [
    ['figure', 'ours', 'reference (same run)', 'ratio', 'target', 'met'],
    ...rows.map((row) => [row.figure, row.ours, row.reference, row.ratio, row.target, row.met === null ? '-' : row.met ? 'yes' : 'NO']),
  ];
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(`\n${title}`);
  console.log(line(cells[0]!));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of cells.slice(1)) console.log(line(row));
}
