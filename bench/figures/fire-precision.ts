/**
 * Figure 9: fire-time precision on an idle daemon, as the daemon records it (a run's
 * startedAt minus its scheduledAt, both ms resolution, same clock), and as the script sees
 * it (its own clock minus scheduledAt): one calendar task (`*\/1 * * * * *`, every whole
 * second) and `at` tasks at distinct instants 200 ms apart in between (x.100, x.300, ...
 * x.900), so that every fire is alone, 100 ms from any other. (The burst of figure 1 prints
 * the same recorded-start figure for 1,000 fires at once.) Also: submitLeadMs and
 * waitForNoneDue, shared with the burst and cluster figures.
 */
import { Api, mapLimit, sleep, type RunJson } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { absoluteRow, detail, type BenchOptions, type FigureReport } from '../report.js';
import { clockScript, parseScriptClock, wallClockMs } from '../script-clock.js';
import { formatSummary, summarize } from '../stats.js';

const targetP99Ms = 5;
/** Where in each second the `at` tasks fire: 200 ms apart, never on the calendar's whole second. */
const atOffsetsMs = [100, 300, 500, 700, 900];
/** Least time left before the window to submit the `at` tasks (more on a slow machine, see submitLeadMs). */
const idleLeadMs = 1500;

const submitConcurrency = 16;
/** Submits timed to choose the lead, and the longest lead a slow machine gets. */
const probeCount = 32;
const maxLeadMs = 30_000;
/** How long after the fires every run must be recorded: 2,000 runs at once take over a minute on a loaded 2-core machine. */
const finishDeadlineMs = 180_000;

/** One fire as recorded: scheduledAt, startedAt, finishedAt and the script's clock, epoch ms (NaN when absent). */
interface Fire {
  scheduledAt: number;
  startedAt: number;
  finishedAt: number;
  clock: number;
  outcome: string;
}

export async function idleFirePrecision(options: BenchOptions): Promise<FigureReport> {
  const windowSeconds = options.quick ? 5 : 30;
  const daemon = await startBenchDaemon({ label: 'fire-idle' });
  try {
    const api = new Api(daemon.url);
    // The window starts on a whole second, far enough ahead for the submits below.
    const atCount = windowSeconds * atOffsetsMs.length;
    const windowStart = Math.ceil((wallClockMs() + (await submitLeadMs(api, atCount, idleLeadMs))) / 1000) * 1000;
    const windowEnd = windowStart + windowSeconds * 1000;
    const calendarId = 'calendar';
    await api.submit({ id: calendarId, type: 'cron', time: '*/1 * * * * *', script: clockScript });
    const atTasks: number[] = Array.from({ length: windowSeconds }, (_, second) => atOffsetsMs.map((offset) => windowStart + second * 1000 + offset)).flat();
    const atIds = atTasks.map((_, index) => `at-${index}`);
    let leastLeadMs = Infinity;
    await mapLimit(atIds, submitConcurrency, async (id, index) => {
      leastLeadMs = Math.min(leastLeadMs, Math.round(windowStart - wallClockMs()));
      await api.submit({ id, type: 'at', time: new Date(atTasks[index]!).toISOString(), script: clockScript });
    });

    // Stay off the daemon through the window (a timer of this process at the same instants
    // is the machine's floor); stop the calendar between the last at fires (at windowEnd -
    // 500 and - 300 ms), before its fire at windowEnd.
    const calendarInstants = Array.from({ length: windowSeconds }, (_, second) => windowStart + second * 1000);
    const floor = timerLateness([...calendarInstants, ...atTasks]);
    await sleep(Math.max(0, windowEnd - 400 - wallClockMs()));
    await api.stop(calendarId);
    await sleep(Math.max(0, windowEnd + 100 - wallClockMs()));
    await waitForNoneDue(api);

    const calendarRuns = (await api.runs(calendarId, 1000)).map(toFire).filter((fire) => fire.scheduledAt >= windowStart && fire.scheduledAt < windowEnd);
    const atRuns = (await mapLimit(atIds, submitConcurrency, (id) => api.get(id))).map((task) => task.results[0]);
    const atFires = atRuns.filter((run): run is RunJson => run !== undefined).map(toFire);
    const calendar = lateness(calendarRuns);
    const at = lateness(atFires);
    const all = lateness([...calendarRuns, ...atFires]);
    const expected = windowSeconds + atCount;

    // Recorded fire times that are not the ones asked for: a calendar fire off the whole
    // second, an `at` run not at its instant.
    const offCalendar = calendarRuns.filter((fire) => fire.scheduledAt % 1000 !== 0).length;
    const offInstant = atRuns.filter((run, index) => run !== undefined && Date.parse(run.scheduledAt) !== atTasks[index]).length;
    const notRun = [...calendarRuns, ...atFires].filter((fire) => fire.outcome !== 'succeeded').length;
    const engine = summarize(all.engine);
    const details = [
        `one calendar task "*/1 * * * * *" for ${windowSeconds} s, and ${atTasks.length} at tasks 200 ms apart in between (x.100 ... x.900 s): every fire alone, 100 ms from any other`,
        `${calendarRuns.length} of ${windowSeconds} calendar fires and ${atFires.length} of ${atTasks.length} at fires recorded; ${notRun} did not succeed; submits left at least ${leastLeadMs} ms before the window`,
        `recorded at the wrong time: ${offCalendar} calendar fires off the whole second, ${offInstant} at runs not at their instant`,
        `startedAt - scheduledAt (engine; ms resolution), all: ${formatSummary(engine)}, min ${formatMin(all.engine)}`,
        `  calendar: ${formatSummary(summarize(calendar.engine))}${pIsMax(calendar.engine)}, min ${formatMin(calendar.engine)}`,
        `  at:       ${formatSummary(summarize(at.engine))}, min ${formatMin(at.engine)}`,
        `script clock - scheduledAt (script start), all: ${formatSummary(summarize(all.script))}, min ${formatMin(all.script)}`,
        `  calendar: ${formatSummary(summarize(calendar.script))}${pIsMax(calendar.script)}`,
        `  at:       ${formatSummary(summarize(at.script))}`,
        `floor: a setTimeout in the bench process for the same instants, its callback's clock - the instant: ${formatSummary(summarize(await floor))}`,
        `script clock - startedAt (recorded start to script start; about 1 ms when the shell was spawned ahead and held, several when spawned at the fire):`,
        `  calendar: ${formatSummary(summarize(calendar.startToScript))}`,
        `  at:       ${formatSummary(summarize(at.startToScript))}`,
    ];
    for (const line of details) detail(line);
    return { rows: [absoluteRow('9. fire-time precision, idle: p99 startedAt - scheduledAt', `p99 ${engine.p99.toFixed(2)} ms (script start p99 ${summarize(all.script).p99.toFixed(2)} ms)`, `<= ${targetP99Ms} ms`, engine.p99 <= targetP99Ms && engine.n === expected)] };
  } finally {
    await daemon.stop();
  }
}

function toFire(run: RunJson | undefined): Fire {
  if (!run) return { scheduledAt: Number.NaN, startedAt: Number.NaN, finishedAt: Number.NaN, clock: Number.NaN, outcome: 'none' };
  return {
    scheduledAt: Date.parse(run.scheduledAt),
    startedAt: run.startedAt === null ? Number.NaN : Date.parse(run.startedAt),
    finishedAt: run.finishedAt === null ? Number.NaN : Date.parse(run.finishedAt),
    clock: parseScriptClock(run.stdout),
    outcome: run.outcome,
  };
}

/** Per fire: engine lateness (startedAt), script lateness (its clock), and the gap between the two. */
function lateness(fires: readonly Fire[]): { engine: number[]; script: number[]; startToScript: number[] } {
  const defined = (values: number[]) => values.filter((value) => !Number.isNaN(value));
  return {
    engine: defined(fires.map((fire) => fire.startedAt - fire.scheduledAt)),
    script: defined(fires.map((fire) => fire.clock - fire.scheduledAt)),
    startToScript: defined(fires.map((fire) => fire.clock - fire.startedAt)),
  };
}

/** For each instant, a timer of this process armed for it: how late each callback ran, in ms. */
function timerLateness(instants: readonly number[]): Promise<number[]> {
  const lateness = (instant: number) =>
    new Promise<number>((resolve) => setTimeout(() => resolve(wallClockMs() - instant), Math.max(0, Math.ceil(instant - wallClockMs()))));
  return Promise.all(instants.map(lateness));
}

/**
 * How far ahead to set the first fire so that `count` submits land before it: at least
 * `leastMs`, more when a few timed submits (of tasks deleted at once) say the machine is slow.
 */
export async function submitLeadMs(api: Api, count: number, leastMs: number): Promise<number> {
  const ids = Array.from({ length: probeCount }, (_, index) => `probe-${index}`);
  const time = new Date(wallClockMs() + 3_600_000).toISOString();
  const started = performance.now();
  await mapLimit(ids, submitConcurrency, (id) => api.submit({ id, type: 'at', time, script: 'true' }));
  const perSubmitMs = (performance.now() - started) / probeCount;
  await mapLimit(ids, submitConcurrency, (id) => api.delete(id));
  return Math.round(Math.min(maxLeadMs, Math.max(leastMs, 500 + 2 * count * perSubmitMs)));
}

/** Waits until no task is waiting for its first fire or executing. */
export async function waitForNoneDue(api: Api): Promise<void> {
  const deadline = performance.now() + finishDeadlineMs;
  while ((await api.countWithStatus('ToBeExecuted', 1)) + (await api.countWithStatus('Executing', 1)) > 0) {
    if (performance.now() > deadline) throw new Error(`runs not all recorded within ${finishDeadlineMs} ms`);
    await sleep(250);
  }
}

function formatMin(values: readonly number[]): string {
  return values.length === 0 ? 'n/a' : `${Math.min(...values).toFixed(2)} ms`;
}

/** With fewer than 101 samples the nearest-rank p99 is the maximum; say so. */
function pIsMax(values: readonly number[]): string {
  return values.length > 0 && values.length <= 100 ? ' (p99 = max at this n)' : '';
}
