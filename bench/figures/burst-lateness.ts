/**
 * Figure 4: start lateness of 1,000 tasks due at the same instant, against the same 1,000
 * scripts spawned by a bare Node loop. Lateness is the script's own clock minus when it was
 * due: the run's scheduledAt for the daemon, the moment the loop started for the bare loop.
 */
import { Api, mapLimit, sleep, type TaskJson } from '../api.js';
import { bareLateness } from '../bare-loop.js';
import { startBenchDaemon } from '../daemon-process.js';
import type { FigureResult } from '../report.js';
import { clockScript, parseScriptClock, wallClockMs } from '../script-clock.js';
import { formatSummary, summarize } from '../stats.js';

const taskCount = 1000;
/** How far ahead the common due instant is set; the submits must all land before it. */
const leadMs = 3000;
const submitConcurrency = 16;
const finishDeadlineMs = 60_000;
const maxRatio = 1.2;

interface Lateness {
  /** Script clock minus due time, per run. */
  late: number[];
  details: string[];
}

export async function burstLateness(): Promise<FigureResult> {
  const daemon = await measureDaemon();
  const bare = await measureBareLoop();
  const d = summarize(daemon.late);
  const b = summarize(bare.late);
  const ratio = d.p99 / b.p99;
  return {
    figure: '4. 1,000 due at once: p99 lateness',
    measured: `daemon p99 ${d.p99.toFixed(1)} ms vs bare ${b.p99.toFixed(1)} ms = ${ratio.toFixed(2)}x`,
    target: `<= ${maxRatio}x bare p99`,
    met: ratio <= maxRatio && d.n === taskCount,
    details: [
      `daemon: ${formatSummary(d)}`,
      ...daemon.details.map((line) => `  ${line}`),
      `bare loop: ${formatSummary(b)}`,
      ...bare.details.map((line) => `  ${line}`),
      `ratio of p99s (daemon / bare): ${ratio.toFixed(2)}`,
    ],
  };
}

async function measureDaemon(): Promise<Lateness> {
  const daemon = await startBenchDaemon({ label: 'burst' });
  try {
    const api = new Api(daemon.url);
    const ids = Array.from({ length: taskCount }, (_, index) => `burst-${index}`);
    const dueAt = wallClockMs() + leadMs;
    let leastLeadMs = Infinity;
    await mapLimit(ids, submitConcurrency, async (id) => {
      const left = Math.round(dueAt - wallClockMs());
      leastLeadMs = Math.min(leastLeadMs, left);
      await api.submit({ id, type: 'delay', time: `${Math.max(1, left)}ms`, script: clockScript });
    });

    // Stay off the daemon while it fires, then wait for every run to be recorded.
    await sleep(Math.max(0, dueAt - wallClockMs()) + 1000);
    const deadline = performance.now() + finishDeadlineMs;
    while ((await api.countWithStatus('ToBeExecuted', 1)) + (await api.countWithStatus('Executing', 1)) > 0) {
      if (performance.now() > deadline) throw new Error(`runs not all recorded ${finishDeadlineMs} ms after they were due`);
      await sleep(250);
    }

    const tasks = await mapLimit(ids, submitConcurrency, (id) => api.get(id));
    const runs = tasks.map(firstRun);
    const late = runs.map((run) => run.clock - run.scheduledAt).filter((value) => !Number.isNaN(value));
    const engine = runs.map((run) => run.startedAt - run.scheduledAt).filter((value) => !Number.isNaN(value));
    const scheduled = runs.map((run) => run.scheduledAt);
    const vsCommonInstant = runs.map((run) => run.clock - dueAt).filter((value) => !Number.isNaN(value));
    return {
      late,
      details: [
        `${late.length} of ${taskCount} runs printed a clock; submits left at least ${leastLeadMs} ms before the due instant`,
        `due times (scheduledAt) spread over ${(Math.max(...scheduled) - Math.min(...scheduled)).toFixed(0)} ms`,
        `of which scheduledAt -> startedAt (engine, before spawn): ${formatSummary(summarize(engine))}`,
        `script clock minus the common instant T: ${formatSummary(summarize(vsCommonInstant))}`,
      ],
    };
  } finally {
    await daemon.stop();
  }
}

function firstRun(task: TaskJson): { scheduledAt: number; startedAt: number; clock: number } {
  const run = task.results[0];
  if (!run) return { scheduledAt: Number.NaN, startedAt: Number.NaN, clock: Number.NaN };
  return {
    scheduledAt: Date.parse(run.scheduledAt),
    startedAt: run.startedAt === null ? Number.NaN : Date.parse(run.startedAt),
    clock: parseScriptClock(run.stdout),
  };
}

async function measureBareLoop(): Promise<Lateness> {
  const late = await bareLateness('burst', taskCount, clockScript);
  return { late, details: [`${late.length} of ${taskCount} spawns printed a clock; T = the moment the loop started`] };
}
