/**
 * Bursts: `burstCount` `at` tasks due at one instant T, submitted ahead through the API, on
 * a fresh daemon (optionally holding `pending` other tasks due far ahead, written into its
 * database before it starts). Lateness per run is the script's own clock ($EPOCHREALTIME)
 * minus the run's scheduledAt (T).
 */
import { Api, mapLimit, sleep, type RunJson } from './api.js';
import { startBenchDaemon, type BenchDaemon } from './daemon-process.js';
import { submitLeadMs } from './figures/fire-precision.js';
import { prefillPending } from './prefill.js';
import { executorOf, MachineBusySampler, readCpuSeconds, readThreadCpuSeconds } from './proc-stats.js';
import { clockScript, parseScriptClock, wallClockMs } from './script-clock.js';
import { formatSummary, summarize } from './stats.js';

export const burstCount = 1000;
/** Least time T is set ahead of a measured burst: past the daemon's 2 s warm-up, so that it prepares the burst as it would tasks submitted long before. */
const leastLeadMs = 3000;
/**
 * A daemon's first burst, which is not measured, is set this far ahead, with no probe of the
 * submits' pace: on a daemon just started the probe reads them slow (cold code) and set T
 * 15 s ahead. Submits that come too late for T are due at once instead ('delay' of 10 ms),
 * which serves the first burst's purpose as well.
 */
const firstLeadMs = 1500;
const submitConcurrency = 16;
const finishDeadlineMs = 120_000;

export interface BurstOptions {
  label: string;
  maxRuns: 'lifted' | 'default';
  /** Tasks due in 1,000 hours already in the database when the daemon starts. */
  pending?: number;
}

/** A daemon for bursts, started fresh (with its pending tasks written first, if any). */
export class BurstDaemon {
  private constructor(
    private readonly daemon: BenchDaemon,
    private readonly api: Api,
    private readonly pending: number,
    private readonly prefillSec: number,
  ) {}

  static async start(options: BurstOptions): Promise<BurstDaemon> {
    const pending = options.pending ?? 0;
    const prefillStarted = performance.now();
    const daemon = await startBenchDaemon({
      label: options.label,
      maxRuns: options.maxRuns,
      ...(pending > 0 ? { prepare: (dataDir: string) => prefillPending(dataDir, pending) } : {}),
    });
    return new BurstDaemon(daemon, new Api(daemon.url), pending, (performance.now() - prefillStarted) / 1000);
  }

  /** Runs one burst of `burstCount` tasks named `PREFIX-0`, `PREFIX-1`, ... (a prefix new to this daemon). */
  burst(prefix: string): Promise<OneBurst> {
    return burstOnce(this.daemon, this.api, prefix, 'measured');
  }

  /**
   * The daemon's first burst. The first burst a daemon runs after its start is slower than
   * the next ones: V8 compiles the code of fires, starts and ends once it runs hot, on
   * background threads that take the cores the scripts need (0.3-0.4 s of CPU in a first
   * burst of 1,000, perf shows TurboFan; about nothing in the next). A daemon runs for
   * weeks: a figure is a burst on a daemon that has run one, and the first is printed
   * beside it. Not measured, so it is submitted with less lead (firstLeadMs).
   */
  firstBurst(): Promise<OneBurst> {
    return burstOnce(this.daemon, this.api, 'first', 'first');
  }

  /** What the details say of the daemon's start. */
  startDetails(): string[] {
    return this.pending > 0 ? [`${this.pending.toLocaleString('en')} pending tasks written into the database before the start (${this.prefillSec.toFixed(1)} s, store code in-process)`] : [];
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }
}

/** A daemon for bursts and its first burst, run before it is handed over. */
export interface WarmedBurstDaemon {
  daemon: BurstDaemon;
  first: OneBurst;
}

/**
 * Starts a daemon for each of `options`, side by side (an idle daemon uses no CPU), runs
 * their first bursts at once (they are not measured), hands them to `work` in that order,
 * and stops them all after, however `work` ends.
 */
export async function withBurstDaemons<T>(options: readonly BurstOptions[], work: (daemons: WarmedBurstDaemon[]) => Promise<T>): Promise<T> {
  const daemons: BurstDaemon[] = [];
  try {
    for (const each of options) daemons.push(await BurstDaemon.start(each));
    const firsts = await Promise.all(daemons.map((daemon) => daemon.firstBurst()));
    return await work(daemons.map((daemon, index) => ({ daemon, first: firsts[index]! })));
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
  }
}

/** The detail line of a daemon's first burst (not a figure). */
export function firstBurstDetail(first: OneBurst): string {
  // Its CPU is not printed: first bursts run side by side, and some of their runs are due before T.
  return `first, a burst of ${burstCount} on the new daemon (not the figure: V8 compiles the hot code as it runs), ${burstCount - first.offInstant} due at T ${firstLeadMs} ms ahead and the rest as their submits came: script clock - scheduledAt p99 ${summarize(first.late).p99.toFixed(0)} ms`;
}

/** The detail lines of a measured burst. */
export function burstDetails(burst: OneBurst): string[] {
  return [
    `then ${burstCount} at tasks due at T, ${burst.leadMs} ms ahead (submits left at least ${burst.leastLeftMs} ms); ${burst.late.length} printed a clock; ${burst.offInstant} with a scheduledAt other than T; ${burst.fromPrepared} started from a shell prepared ahead (the daemon's warm-up), the rest cold`,
    `script clock - scheduledAt: ${formatSummary(summarize(burst.late))}`,
    `  of which startedAt - scheduledAt (recorded start, ms resolution): ${formatSummary(summarize(burst.recordedStart))}`,
    `CPU from just before T until the daemon went quiet: daemon ${burst.cpu.daemon.toFixed(2)} s (${usPerRun(burst.cpu.daemon)} us per run; main thread ${burst.cpu.main.toFixed(2)} s, other threads ${burst.cpu.others.toFixed(2)} s)` +
      (burst.cpu.executor === undefined ? ', no executor process (in-process spawns)' : `, executor ${burst.cpu.executor.toFixed(2)} s`),
    `the machine's cores were ${busyText(burst.machineBusy)} busy from T until the last script printed its clock`,
  ];
}

const usPerRun = (seconds: number) => ((seconds * 1e6) / burstCount).toFixed(0);

/** A share of the machine's CPU as the details print it. */
export const busyText = (percent: number | undefined) => (percent === undefined ? '(not measured)' : `${percent.toFixed(0)}%`);

export interface OneBurst {
  /** Script clock minus scheduledAt, ms, per run that printed a clock. */
  late: number[];
  /** startedAt minus scheduledAt, ms, per run that started. */
  recordedStart: number[];
  leadMs: number;
  leastLeftMs: number;
  offInstant: number;
  /** CPU seconds from just before T until the daemon went quiet. */
  cpu: { daemon: number; main: number; others: number; executor: number | undefined };
  /** How busy the machine's cores were, in percent, from T until the last script printed its clock. */
  machineBusy: number | undefined;
  /** How many of the runs started from a shell the daemon prepared before they were due. */
  fromPrepared: number;
}

/**
 * `burstCount` tasks `PREFIX-0`, `PREFIX-1`, ... due at one instant, submitted ahead; resolves
 * with their lateness once all have run.
 */
async function burstOnce(daemon: BenchDaemon, api: Api, prefix: string, kind: 'first' | 'measured'): Promise<OneBurst> {
  const ids = Array.from({ length: burstCount }, (_, index) => `${prefix}-${index}`);
  const preparedUsed = 'scheduler_prepared_processes_used_total';
  const usedBefore = await api.metric(preparedUsed);
  const leadMs = kind === 'first' ? firstLeadMs : await submitLeadMs(api, burstCount, leastLeadMs);
  const instant = Math.ceil(wallClockMs() + leadMs);
  const time = new Date(instant).toISOString();
  let leastLeftMs = Infinity;
  await mapLimit(ids, submitConcurrency, async (id) => {
    const leftMs = Math.round(instant - wallClockMs());
    leastLeftMs = Math.min(leastLeftMs, leftMs);
    // A first burst's submits that come too late for T (see firstLeadMs) are due at once instead.
    const late = kind === 'first' && leftMs < 100;
    await api.submit(late ? { id, type: 'delay', time: '10ms', script: clockScript } : { id, type: 'at', time, script: clockScript });
  });
  if (leastLeftMs <= 0 && kind === 'measured') throw new Error(`the submits were still landing ${-leastLeftMs} ms after T`);

  // Stay off the daemon while it fires (a request during the burst would take its CPU and
  // count against it): wait until T, then until the daemon has gone quiet by its CPU time in
  // /proc; then wait until every burst task has run (the pending tasks stay ToBeExecuted,
  // so count the Executed ones).
  await sleep(Math.max(0, instant - wallClockMs()) - 200);
  const machine = new MachineBusySampler();
  const executor = executorOf(daemon.pid);
  const before = { daemon: readCpuSeconds(daemon.pid), executor: executor === undefined ? 0 : readCpuSeconds(executor), threads: readThreadCpuSeconds(daemon.pid) };
  await sleep(Math.max(0, instant - wallClockMs()) + 100);
  await quiet(daemon.pid);
  const threads = readThreadCpuSeconds(daemon.pid);
  const cpu = {
    daemon: readCpuSeconds(daemon.pid) - before.daemon,
    main: threads.main - before.threads.main,
    others: threads.others - before.threads.others,
    executor: executor === undefined ? undefined : readCpuSeconds(executor) - before.executor,
  };
  machine.stop();
  const deadline = performance.now() + finishDeadlineMs;
  while ((await api.countWithStatus('Executed', burstCount, `${prefix}-`)) < burstCount) {
    if (performance.now() > deadline) throw new Error(`runs not all recorded ${finishDeadlineMs / 1000} s after T`);
    await sleep(250);
  }

  const fromPrepared = (await api.metric(preparedUsed)) - usedBefore;
  const runs = (await mapLimit(ids, submitConcurrency, (id) => api.get(id))).map((task) => task.results[0]).filter((run): run is RunJson => run !== undefined);
  const clocks = runs.map((run) => parseScriptClock(run.stdout));
  const late = runs.map((run, index) => clocks[index]! - Date.parse(run.scheduledAt)).filter((value) => !Number.isNaN(value));
  return {
    late,
    machineBusy: machine.busyPercent(instant, instant + Math.max(...late)),
    recordedStart: runs.filter((run) => run.startedAt !== null).map((run) => Date.parse(run.startedAt!) - Date.parse(run.scheduledAt)),
    leadMs,
    leastLeftMs,
    offInstant: runs.filter((run) => Date.parse(run.scheduledAt) !== instant).length,
    cpu,
    fromPrepared,
  };
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
