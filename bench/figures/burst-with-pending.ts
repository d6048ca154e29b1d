/**
 * Figure 2: the burst of figure 1 (cap lifted) on a daemon that holds 200,000 other
 * pending tasks due far ahead, against the same burst with none: figure 1a's when it ran
 * in this run, else measured here first.
 */
import { measureBurst } from '../burst.js';
import { detail, ratioRow, type BenchOptions, type FigureReport } from '../report.js';
import { summarize } from '../stats.js';
import { emptyBurst } from './burst-lateness.js';

const maxRatio = 1.1;

export async function burstWithPending(options: BenchOptions): Promise<FigureReport> {
  const pending = options.quick ? 20_000 : 200_000;
  let empty = emptyBurst;
  if (empty) detail('the burst with none pending: figure 1a of this run');
  else {
    detail('the burst with none pending:');
    empty = await measureBurst({ label: 'burst-empty', maxRuns: 'lifted' });
    for (const line of empty.details) detail(`  ${line}`);
  }
  detail(`the burst with ${pending.toLocaleString('en')} pending${options.quick ? ' (quick: 20,000 instead of 200,000)' : ''}:`);
  const loaded = await measureBurst({ label: 'burst-pending', maxRuns: 'lifted', pending });
  for (const line of loaded.details) detail(`  ${line}`);
  const name = `2. the burst with ${options.quick ? '20k' : '200k'} pending vs none, p99`;
  return { rows: [ratioRow(name, summarize(loaded.late).p99, summarize(empty.late).p99, (value) => `${value.toFixed(0)} ms`, { atMost: maxRatio })] };
}
