/** Figure 5: start lateness of one task at a time on an otherwise idle daemon. */
import { Api } from '../api.js';
import { bareLateness } from '../bare-loop.js';
import { startBenchDaemon } from '../daemon-process.js';
import type { FigureResult } from '../report.js';
import { clockScript, parseScriptClock } from '../script-clock.js';
import { formatSummary, summarize } from '../stats.js';
import { waitUntilFinished } from './wait.js';

// Enough samples that p99 is not simply the worst one.
const taskCount = 200;
const delay = '100ms';
const targetP99Ms = 5;
const perTaskDeadlineMs = 10_000;

export async function singleLateness(): Promise<FigureResult> {
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
    const floor = summarize(await bareLateness('sequential', taskCount, clockScript));
    return {
      figure: '5. one task on idle daemon: p99 lateness',
      measured: `p99 ${summary.p99.toFixed(2)} ms`,
      target: `<= ${targetP99Ms} ms`,
      met: summary.p99 <= targetP99Ms && summary.n === taskCount,
      details: [
        `${taskCount} delay tasks of ${delay}, one at a time; lateness = script clock - scheduledAt`,
        `lateness: ${formatSummary(summary)}`,
        `of which scheduledAt -> startedAt (engine, before spawn; ms resolution): ${formatSummary(summarize(engine))}`,
        `floor: a bare Node process spawning the same script one at a time, clock - just before spawn: ${formatSummary(floor)}`,
      ],
    };
  } finally {
    await daemon.stop();
  }
}
