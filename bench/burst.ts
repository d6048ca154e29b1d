/**
 * One burst: `count` `at` tasks due at one instant T, submitted ahead through the API, on
 * a fresh daemon (optionally holding `pending` other tasks due far ahead, written into its
 * database before it starts). Lateness per run is the script's own clock ($EPOCHREALTIME)
 * minus the run's scheduledAt (T).
 */
import { Api, mapLimit, sleep, type RunJson } from './api.js';
import { startBenchDaemon } from './daemon-process.js';
import { submitLeadMs } from './figures/fire-precision.js';
import { prefillPending } from './prefill.js';
import { executorOf, readCpuSeconds } from './proc-stats.js';
import { clockScript, parseScriptClock, wallClockMs } from './script-clock.js';
import { formatSummary, summarize } from './stats.js';

export const burstCount = 1000;
const leastLeadMs = 3000;
const submitConcurrency = 16;
const finishDeadlineMs = 120_000;

export interface BurstOptions {
  label: string;
  maxRuns: 'lifted' | 'default';
  /** Tasks due in 1,000 hours already in the database when the daemon starts. */
  pending?: number;
}

export interface Burst {
  /** Script clock minus scheduledAt, ms, per run that printed a clock. */
  late: number[];
  details: string[];
}

export async function measureBurst(options: BurstOptions): Promise<Burst> {
  const pending = options.pending ?? 0;
  const prefillStarted = performance.now();
  const daemon = await startBenchDaemon({
    label: options.label,
    maxRuns: options.maxRuns,
    ...(pending > 0 ? { prepare: (dataDir: string) => prefillPending(dataDir, pending) } : {}),
  });
  const prefillSec = (performance.now() - prefillStarted) / 1000;
  try {
    const api = new Api(daemon.url);
    const ids = Array.from({ length: burstCount }, (_, index) => `burst-${index}`);
    const leadMs = await submitLeadMs(api, burstCount, leastLeadMs);
    const instant = Math.ceil(wallClockMs() + leadMs);
    const time = new Date(instant).toISOString();
    let leastLeft = Infinity;
    await mapLimit(ids, submitConcurrency, async (id) => {
      leastLeft = Math.min(leastLeft, Math.round(instant - wallClockMs()));
      await api.submit({ id, type: 'at', time, script: clockScript });
    });
    if (leastLeft <= 0) throw new Error(`the submits were still landing ${-leastLeft} ms after T`);

    // Stay off the daemon while it fires (a request during the burst would take its CPU and
    // count against it): wait until T, then until the daemon has gone quiet by its CPU time in
    // /proc; then wait until every burst task has run (the pending tasks stay ToBeExecuted,
    // so count the Executed ones).
    await sleep(Math.max(0, instant - wallClockMs()) - 200);
    const executor = executorOf(daemon.pid);
    const cpuBefore = { daemon: readCpuSeconds(daemon.pid), executor: executor === undefined ? 0 : readCpuSeconds(executor) };
    await sleep(Math.max(0, instant - wallClockMs()) + 100);
    await quiet(daemon.pid);
    const cpu = {
      daemon: readCpuSeconds(daemon.pid) - cpuBefore.daemon,
      executor: executor === undefined ? undefined : readCpuSeconds(executor) - cpuBefore.executor,
    };
    const deadline = performance.now() + finishDeadlineMs;
    while ((await api.countWithStatus('Executed', burstCount)) < burstCount) {
      if (performance.now() > deadline) throw new Error(`runs not all recorded ${finishDeadlineMs / 1000} s after T`);
      await sleep(250);
    }

    const runs = (await mapLimit(ids, submitConcurrency, (id) => api.get(id))).map((task) => task.results[0]).filter((run): run is RunJson => run !== undefined);
    const clocks = runs.map((run) => parseScriptClock(run.stdout));
    const late = runs.map((run, index) => clocks[index]! - Date.parse(run.scheduledAt)).filter((value) => !Number.isNaN(value));
    const engine = runs.filter((run) => run.startedAt !== null).map((run) => Date.parse(run.startedAt!) - Date.parse(run.scheduledAt));
    const offInstant = runs.filter((run) => Date.parse(run.scheduledAt) !== instant).length;
    return {
      late,
      details: [
        ...(pending > 0 ? [`${pending.toLocaleString('en')} pending tasks written into the database before the start (${prefillSec.toFixed(1)} s, store code in-process)`] : []),
        `${burstCount} at tasks due at T, ${leadMs} ms ahead (submits left at least ${leastLeft} ms); ${late.length} printed a clock; ${offInstant} with a scheduledAt other than T`,
        `script clock - scheduledAt: ${formatSummary(summarize(late))}`,
        `  of which startedAt - scheduledAt (recorded start, ms resolution): ${formatSummary(summarize(engine))}`,
        `CPU from just before T until the daemon went quiet: daemon ${cpu.daemon.toFixed(2)} s (${((cpu.daemon * 1e6) / burstCount).toFixed(0)} us per run)` +
          (cpu.executor === undefined ? ', no executor process (in-process spawns)' : `, executor ${cpu.executor.toFixed(2)} s`),
      ],
    };
  } finally {
    await daemon.stop();
  }
}

/** Resolves once the process used under 5% of a core for 300 ms in a row (or after 60 s). */
async function quiet(pid: number): Promise<void> {
  const sampleMs = 100;
  const deadline = performance.now() + 60_000;
  let last = readCpuSeconds(pid);
  let quietSamples = 0;
  while (quietSamples < 3 && performance.now() < deadline) {
    await sleep(sampleMs);
    const now = readCpuSeconds(pid);
    quietSamples = now - last < 0.05 * (sampleMs / 1000) ? quietSamples + 1 : 0;
    last = now;
  }
}
