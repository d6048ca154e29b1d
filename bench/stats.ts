/** Percentiles of a sample, nearest-rank. */

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  return { n: sorted.length, p50: rank(50), p99: rank(99), max: sorted.at(-1) ?? Number.NaN };
}

/** "p50 1.23 ms, p99 4.56 ms, max 7.89 ms (n=1000)" */
export function formatSummary(summary: Summary, unit = 'ms'): string {
  const f = (value: number) => `${value.toFixed(2)} ${unit}`;
  return `p50 ${f(summary.p50)}, p99 ${f(summary.p99)}, max ${f(summary.max)} (n=${summary.n})`;
}
