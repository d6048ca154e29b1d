/**
 * Figure 6: one event fanned out to 10,000 watchers of one task. The watchers live in child
 * processes of 2,500 streams each (sse-watchers.js fanout). The task is a cron task that runs
 * `true` every 2 s; once every stream has its snapshot, the figure takes the first run that
 * started after that, and measures for its `run-started` event the delay from the run's
 * startedAt (the daemon's clock, just before it commits the start) to each watcher's read of
 * the event. Two more streams, each alone in an otherwise idle process, are opened just before
 * the 10,000 and just after them: the daemon writes an event to a task's watchers in the
 * order they came, so these two read it about when the daemon began and finished writing it,
 * with little wait of their own. Also: the daemon's RSS with the watchers connected, and per
 * watcher; the CPU that the daemon and the watcher processes spent per frame per watcher while
 * runs came and went. Heartbeats are set to 10 minutes so that none falls into the measurement.
 */
import { Api, sleep } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { cpuMeter, readCpuSeconds, readMemoryMB, readOpenFileLimit } from '../proc-stats.js';
import { absoluteRow, detail, type FigureReport } from '../report.js';
import { wallClockMs } from '../script-clock.js';
import type { FanoutReport, RunReceipts } from '../sse-watchers.js';
import { formatSummary, summarize } from '../stats.js';
import { FanoutWatchers } from '../watcher-processes.js';

const watcherCount = 10_000;
/** The target: the last watcher reads a change at most this long after the first. */
const maxSpreadMs = 100;
const perProcess = 2500;
const intervalMs = 2000;
const openTimeoutMs = 60_000;
const settleMs = 1000;
const sampleEveryMs = 50;
/** Frames a run of `true` sends to every watcher: status and run-started, run-finished and status. */
const framesPerRun = 4;

interface CpuSample {
  at: number;
  /** CPU seconds used so far by the daemon, and by all the watcher processes together. */
  daemon: number;
  watchers: number;
}

const sumCpu = (processes: { pid: number }[]) => processes.reduce((sum, child) => sum + readCpuSeconds(child.pid), 0);
/** Microseconds of CPU per frame written to (or read by) one watcher, for one run's frames. */
const perFrameUs = (seconds: number, watchers: number) => ((seconds * 1e6) / (framesPerRun * watchers)).toFixed(1);

export async function watcherFanout(): Promise<FigureReport> {
  const daemon = await startBenchDaemon({ label: 'fanout', extraArgs: ['--heartbeat', '10m'] });
  let watchers: FanoutWatchers | undefined;
  let firstProbe: FanoutWatchers | undefined;
  let lastProbe: FanoutWatchers | undefined;
  try {
    // One descriptor per stream, in the daemon and in each watcher process (which inherit the same limit).
    const fdLimit = readOpenFileLimit(daemon.pid);
    if (fdLimit < watcherCount + 100) throw new Error(`the daemon may open only ${fdLimit} files; 10,000 watchers need ulimit -n of at least ${watcherCount + 100}`);
    const api = new Api(daemon.url);
    await api.submit({ id: 'fanout', type: 'cron', time: `${intervalMs}ms`, script: 'true' });
    await sleep(settleMs);
    const before = readMemoryMB(daemon.pid);

    firstProbe = new FanoutWatchers(daemon.url, 'fanout', 1, 1);
    await firstProbe.ready(openTimeoutMs);
    const openCpu = cpuMeter(daemon.pid);
    const openStarted = performance.now();
    watchers = new FanoutWatchers(daemon.url, 'fanout', watcherCount, perProcess);
    const ready = await watchers.ready(openTimeoutMs);
    const openSec = (performance.now() - openStarted) / 1000;
    const openCores = openCpu();
    lastProbe = new FanoutWatchers(daemon.url, 'fanout', 1, 1);
    await lastProbe.ready(openTimeoutMs);
    const connected = ready.reduce((sum, r) => sum + r.connected, 0);
    const failed = ready.reduce((sum, r) => sum + r.failed, 0);
    const firstError = ready.find((r) => r.firstError !== null)?.firstError;

    await sleep(settleMs);
    const allOpenAt = wallClockMs();
    const connectedMem = readMemoryMB(daemon.pid);
    // The next run starts within one interval; its events then reach every watcher. Meanwhile
    // the CPU used so far by the daemon and the watcher processes is sampled.
    const samples: CpuSample[] = [];
    const sampleUntil = performance.now() + intervalMs + 2000;
    while (performance.now() < sampleUntil) {
      samples.push({ at: wallClockMs(), daemon: readCpuSeconds(daemon.pid), watchers: sumCpu(watchers.processes) });
      await sleep(sampleEveryMs);
    }
    const after = readMemoryMB(daemon.pid);
    const reports = await watchers.report(30_000);
    const [firstReport] = await firstProbe.report(30_000);
    const [lastReport] = await lastProbe.report(30_000);
    const closedEarly = reports.reduce((sum, r) => sum + r.closedEarly, 0);

    // The first run that started after every stream was open.
    const run = Math.min(...reports.flatMap((report) => report.runs).filter((r) => Date.parse(r.startedAt) > allOpenAt).map((r) => r.run));
    if (!Number.isFinite(run)) throw new Error('no run started after the watchers were connected');
    const receipts = reports.map((report) => report.runs.find((r) => r.run === run)).filter((r): r is RunReceipts => r !== undefined);
    const startedAt = Date.parse(receipts[0]!.startedAt);
    const delays = receipts.flatMap((r) => r.receipts.map((at) => at - startedAt));
    const delay = summarize(delays);
    const first = Math.min(...delays);
    const spread = delay.max - first;

    // CPU from just before the run started until its events (a run of `true` ends within
    // milliseconds) had reached every watcher, before the next run.
    const lastRead = startedAt + delay.max;
    const from = samples.filter((sample) => sample.at <= startedAt).at(-1);
    const to = samples.find((sample) => sample.at >= Math.max(startedAt + 500, lastRead + 100));
    const cpuLine =
      from && to && to.at < startedAt + intervalMs
        ? `CPU from just before the run started until its ${framesPerRun} frames (status, run-started, run-finished, status) had reached every watcher (${(to.at - from.at).toFixed(0)} ms): ` +
          `daemon ${(to.daemon - from.daemon).toFixed(2)} s = ${perFrameUs(to.daemon - from.daemon, connected)} us per frame per watcher; ` +
          `watcher processes ${(to.watchers - from.watchers).toFixed(2)} s = ${perFrameUs(to.watchers - from.watchers, connected)} us`
        : 'CPU per frame: not measured (the run came too late in the sampling, or its events reached the watchers after the next run had begun)';
    const probeDelay = (report: FanoutReport | undefined) => {
      const receipt = report?.runs.find((r) => r.run === run)?.receipts[0];
      return receipt === undefined ? 'not received' : `${(receipt - startedAt).toFixed(1)} ms`;
    };
    const perWatcherKB = ((connectedMem.rss - before.rss) * 1e6) / connected / 1024;
    const processLines = receipts.map((r, index) => {
      const own = summarize(r.receipts.map((at) => at - startedAt));
      const ownFirst = Math.min(...r.receipts) - startedAt;
      return `  process ${index + 1}: ${own.n} receipts, first ${ownFirst.toFixed(1)} ms, p50 ${own.p50.toFixed(1)} ms, last ${own.max.toFixed(1)} ms`;
    });
    const details = [
        `${connected} of ${watcherCount} streams opened on one cron task (every ${intervalMs / 1000} s, script "true") from ${watchers.processes.length} processes of ${perProcess}, ` +
          `at most 50 opening at a time in each (open-file limit ${fdLimit}), in ${openSec.toFixed(1)} s (${Math.round(connected / openSec)}/s); failed ${failed}${firstError ? ` (first: ${firstError})` : ''}`,
        `daemon CPU while they opened: ${openCores.toFixed(2)} cores, ${((openCores * openSec * 1e6) / Math.max(1, connected)).toFixed(0)} us per stream opened`,
        `run ${run}'s run-started, startedAt (daemon clock, ms resolution) -> read by the watcher: ${formatSummary(delay)}`,
        `received by ${delay.n} of ${connected} watchers; spread first -> last ${spread.toFixed(1)} ms; streams that ended early ${closedEarly}`,
        ...processLines,
        `probes alone in their processes: the stream opened before the 10,000 read it ${probeDelay(firstReport)} after startedAt, the one opened after them ${probeDelay(lastReport)} ` +
          `(the daemon writes to a task's watchers in the order they came: about when it began and finished writing this event)`,
        cpuLine,
        `daemon RSS: ${before.rss.toFixed(1)} MB before the watchers, ${connectedMem.rss.toFixed(1)} MB with ${connected} connected ` +
          `(${(connectedMem.rss - before.rss).toFixed(1)} MB more, ${perWatcherKB.toFixed(1)} KiB per watcher; anonymous ${connectedMem.anon.toFixed(1)} MB), ` +
          `${after.rss.toFixed(1)} MB after the event; VmHWM ${after.hwm.toFixed(1)} MB`,
        `(watchers and daemon share this machine's CPUs: a receipt time includes the watcher process reaching that socket)`,
    ];
    for (const line of details) detail(line);
    const met = spread <= maxSpreadMs && delay.n === connected && connected === watcherCount;
    return { rows: [absoluteRow('6. 10k SSE watchers: last receipt after the first', `${spread.toFixed(0)} ms`, `<= ${maxSpreadMs} ms`, met)] };
  } finally {
    for (const group of [firstProbe, watchers, lastProbe]) group?.stop();
    await daemon.stop();
  }
}
