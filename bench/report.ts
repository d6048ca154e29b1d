/** How a figure is reported: printed beside its target, never asserted. */

export interface FigureResult {
  figure: string;
  measured: string;
  target: string;
  /** null: no target is set for this figure; it is reported only. */
  met: boolean | null;
  /** Supporting lines printed under the figure. */
  details: string[];
}

export function printFigure(result: FigureResult): void {
  console.log(`\n== ${result.figure}`);
  for (const line of result.details) console.log(`   ${line}`);
  const verdict = result.met === null ? 'no target set' : `target ${result.target}: ${result.met ? 'met' : 'MISSED'}`;
  console.log(`   -> ${result.measured}   (${verdict})`);
}

export function printSummary(results: FigureResult[]): void {
  const rows = [['figure', 'measured', 'target', 'met'], ...results.map((r) => [r.figure, r.measured, r.target, r.met === null ? '-' : r.met ? 'yes' : 'no'])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ');
  console.log('\nSummary');
  console.log(line(rows[0]!));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const row of rows.slice(1)) console.log(line(row));
}

/** A figure that could not be measured at all. */
export function failedFigure(figure: string, target: string, error: unknown): FigureResult {
  const message = error instanceof Error ? error.message : String(error);
  return { figure, measured: `not measured: ${message}`, target, met: false, details: [] };
}
