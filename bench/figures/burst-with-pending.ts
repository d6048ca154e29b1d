/**
 * Figure 2: the burst of figure 1 (cap lifted) on a daemon that holds 200,000 other pending
 * tasks due far ahead, against the same burst on a daemon with none. Once the whole burst is
 * prepared ahead, a burst lasts a few hundred milliseconds and one burst's p99 against
 * another's swings by a third from the machine alone (the burst with none pending read 209
 * and 277 ms in two runs of the same code). So both daemons run side by side (the idle one
 * uses no CPU), each has a first burst for V8 to compile its hot code (both at once), then
 * they have a burst each for a few rounds (which goes first alternating), and the figure is
 * the median of the one's p99s against the median of the other's.
 */
import { burstDetails, firstBurstDetail, withBurstDaemons } from '../burst.js';
import { detail, ratioRow, type BenchOptions, type FigureReport } from '../report.js';
import { summarize } from '../stats.js';

const maxRatio = 1.1;

export async function burstWithPending(options: BenchOptions): Promise<FigureReport> {
  const pending = options.quick ? 20_000 : 200_000;
  // Quick: one round, to stay within the quick run's two minutes; it swings as much as one burst does.
  const rounds = options.quick ? 1 : 3;
  const pendingText = pending.toLocaleString('en');
  const setups = [
    { name: 'the burst with none pending', options: { label: 'burst-empty', maxRuns: 'lifted' as const } },
    { name: `the burst with ${pendingText} pending${options.quick ? ' (quick: 20,000 instead of 200,000)' : ''}`, options: { label: 'burst-pending', maxRuns: 'lifted' as const, pending } },
  ];
  return withBurstDaemons(setups.map((setup) => setup.options), async (daemons) => {
    const sides = setups.map((setup, index) => ({ name: setup.name, daemon: daemons[index]!.daemon, p99s: [] as number[] }));
    detail(`both daemons side by side; a first burst on each (both at once: not measured), then ${rounds} rounds of a burst on each, the one going first alternating`);
    sides.forEach((side, index) => {
      detail(`${side.name}:`);
      for (const line of side.daemon.startDetails()) detail(`  ${line}`);
      detail(`  ${firstBurstDetail(daemons[index]!.first)}`);
    });
    for (let round = 1; round <= rounds; round++) {
      // Which goes first alternates, so that whatever a burst leaves behind for the next (the
      // machine's caches, the kernel reaping a thousand processes) falls on both alike.
      for (const side of round % 2 === 1 ? sides : [...sides].reverse()) {
        const burst = await side.daemon.burst(`round${round}`);
        side.p99s.push(summarize(burst.late).p99);
        detail(`${side.name}, round ${round}:`);
        for (const line of burstDetails(burst)) detail(`  ${line}`);
      }
    }
    const [none, some] = sides.map((side) => side.p99s);
    detail(`p99 per round: none pending ${none!.map(ms).join(', ')}; ${pendingText} pending ${some!.map(ms).join(', ')}; the figure compares their medians`);
    const name = `2. the burst with ${options.quick ? '20k' : '200k'} pending vs none, median p99`;
    return { rows: [ratioRow(name, median(some!), median(none!), ms, { atMost: maxRatio })] };
  });
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
