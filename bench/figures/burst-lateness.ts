/**
 * Figure 1: 1,000 tasks due at one instant, p99 start lateness against the same 1,000
 * scripts spawned by a C posix_spawn loop (reference/spawn-loop.c) measured just before,
 * with the run cap lifted (1a) and with the daemon's default --max-runs (1b; its reference
 * is the C loop with the same cap, at most that many scripts at once). A bare Node spawn
 * loop of the same scripts is printed as a detail (not in --quick).
 */
import { defaultMaxRuns } from '../../src/daemon/default-max-runs.js';
import { bareLateness } from '../bare-loop.js';
import { burstCount, burstDetails, busyText, firstBurstDetail, withBurstDaemons } from '../burst.js';
import { spawnLoopBurst, spawnLoopMissing } from '../reference/spawn-loop.js';
import { detail, ratioRow, type BenchOptions, type FigureReport, type Row } from '../report.js';
import { clockScript } from '../script-clock.js';
import { formatSummary, summarize } from '../stats.js';

const maxRatio = 1.3;
const ms = (value: number) => `${value.toFixed(0)} ms`;

export async function burstLateness(options: BenchOptions): Promise<FigureReport> {
  const rows: Row[] = [];
  if (!options.quick) {
    const node = summarize(await bareLateness('burst', burstCount, clockScript));
    detail(`for scale, a bare Node loop (child_process.spawn) of the same ${burstCount} scripts, clock - loop start: ${formatSummary(node)}`);
  }
  const cases = [
    { name: '1a. 1,000 due at once, p99 lateness, cap lifted', maxRuns: 'lifted' as const },
    { name: `1b. the same, default --max-runs (${defaultMaxRuns()})`, maxRuns: 'default' as const },
  ];
  // One daemon per case; their first bursts (BurstDaemon.firstBurst says why they are run) go at once.
  await withBurstDaemons(cases.map(({ maxRuns }) => ({ label: `burst-${maxRuns}`, maxRuns })), async (daemons) => {
    for (const [index, { name, maxRuns }] of cases.entries()) {
      const { daemon, first } = daemons[index]!;
      detail(`${name}:`);
      // With the daemon's cap, the reference keeps to the same cap: what the machine does
      // running at most that many scripts at once. The uncapped loop is printed beside it (not in --quick).
      if (maxRuns === 'default' && !options.quick) await cReference();
      const reference = await cReference(maxRuns === 'default' ? defaultMaxRuns() : undefined);
      const burst = await daemon.burst('burst');
      for (const line of [firstBurstDetail(first), ...burstDetails(burst)]) detail(`  ${line}`);
      rows.push(ratioRow(name, summarize(burst.late).p99, reference, ms, { atMost: maxRatio }));
    }
  });
  return { rows };
}

/** The C loop's p99 (at most `cap` scripts at once, if given), or why it was not measured. */
async function cReference(cap?: number): Promise<number | string> {
  const missing = spawnLoopMissing();
  if (missing) {
    detail(`C reference skipped: ${missing}`);
    return `skipped: no cc`;
  }
  const loop = await spawnLoopBurst(burstCount, clockScript, cap);
  const late = summarize(loop.late);
  const capped = cap === undefined ? '' : `, at most ${cap} at once`;
  detail(`  C posix_spawn loop, the same ${burstCount} scripts${capped}, clock - loop start: ${formatSummary(late)}; the machine's cores ${busyText(loop.machineBusy)} busy meanwhile`);
  return late.p99;
}
