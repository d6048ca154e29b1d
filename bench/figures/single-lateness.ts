/** Figure 3: start lateness of one task at a time on an otherwise idle daemon (absolute target). */
import { Api } from '../api.js';
import { bareLateness } from '../bare-loop.js';
import { startBenchDaemon } from '../daemon-process.js';
import { absoluteRow, detail, type BenchOptions, type FigureReport } from '../report.js';
import { clockScript, parseScriptClock } from '../script-clock.js';
import { formatSummary, summarize } from '../stats.js';
import { waitUntilFinished } from './wait.js';

const delay = '100ms';
const targetP99Ms = 3;
const perTaskDeadlineMs = 10_000;

export async function singleLateness(options: BenchOptions): Promise<FigureReport> {
  // Enough samples that p99 is not simply the worst one (quick: fewer, and it is the worst).
  const taskCount = options.quick ? 60 : 300;
  const daemon = await startBenchDaemon({ label: 'single' });
  try {
    const api = new Api(daemon.url);
    const late: number[] = [];
    const engine: number[] = [];
    for (let index = 0; index < taskCount; index++) {
      const id = `single-${index}`;
      await api.submit({ id, type: 'delay', time: delay, script: clockScript });
      const run = (await waitUntilFinished(api, id, perTaskDeadlineMs)).results[0];
      if (!run) continue;
      const scheduledAt = Date.parse(run.scheduledAt);
      const clock = parseScriptClock(run.stdout);
      if (!Number.isNaN(clock)) late.push(clock - scheduledAt);
      if (run.startedAt !== null) engine.push(Date.parse(run.startedAt) - scheduledAt);
    }
    const summary = summarize(late);
    detail(`${taskCount} delay tasks of ${delay}, one at a time; lateness = script clock - scheduledAt: ${formatSummary(summary)}`);
    detail(`  of which scheduledAt -> startedAt (recorded start, ms resolution): ${formatSummary(summarize(engine))}`);
    if (!options.quick) {
      const floor = summarize(await bareLateness('sequential', 200, clockScript));
      detail(`for scale: a bare Node process spawning the same script one at a time, clock - just before the spawn: ${formatSummary(floor)}`);
    }
    const met = summary.p99 <= targetP99Ms && summary.n === taskCount;
    return { rows: [absoluteRow('3. one task on an idle daemon, p99 lateness', `${summary.p99.toFixed(2)} ms`, `<= ${targetP99Ms} ms`, met)] };
  } finally {
    await daemon.stop();
  }
}
