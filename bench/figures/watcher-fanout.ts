/**
 * Figure 6: one event fanned out to 10,000 watchers of one task. The watchers are one process
 * of the C client (sse-fanout.c, compiled with `cc`): a light load generator, as wrk is for
 * figures 4 and 5, so that the spread measured is the daemon's rather than the watchers' (Node
 * watcher processes spend more CPU reading a frame than the daemon spends writing it, on the
 * same cores). The task is a cron task that runs `true` every 2 s; once every stream has its
 * snapshot, the figure takes the first run that started after that, and measures for its
 * `run-started` event the delay from the run's startedAt (the daemon's clock, just before it
 * commits the start) to each watcher's read of the event. Two more streams, each alone in an
 * otherwise idle Node process, are opened just before the 10,000 and just after them: the
 * daemon writes an event to a task's watchers in the order they came, so these two read it
 * about when the daemon began and finished writing it, with little wait of their own. Also:
 * the daemon's RSS with the watchers connected, and per watcher; the CPU that the daemon and
 * the watcher process spent per frame per watcher while runs came and went. Then, on the same
 * daemon, the same measurement with the watchers as before (4 Node processes of 2,500,
 * sse-watchers.js fanout), printed as a detail line for continuity (not in --quick); without `cc` those are
 * the figure's watchers, and the row says so. Heartbeats are set to 10 minutes so that none
 * falls into the measurement.
 */
import { Api, sleep } from '../api.js';
import { ccMissing } from '../c-program.js';
import { startBenchDaemon, type BenchDaemon } from '../daemon-process.js';
import { cpuMeter, readCpuSeconds, readMemoryMB, readOpenFileLimit } from '../proc-stats.js';
import { absoluteRow, detail, type BenchOptions, type FigureReport } from '../report.js';
import { wallClockMs } from '../script-clock.js';
import type { FanoutReport, RunReceipts } from '../sse-watchers.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import { compileFanoutClient, FanoutWatchers, type FanoutClient } from '../watcher-processes.js';

const watcherCount = 10_000;
/** The target: the last watcher reads a change at most this long after the first. */
const maxSpreadMs = 100;
/** Streams per Node watcher process (the watchers before the C client, and without `cc`). */
const perProcess = 2500;
const intervalMs = 2000;
const openTimeoutMs = 60_000;
const settleMs = 1000;
const sampleEveryMs = 50;
/** Frames a run of `true` sends to every watcher: status and run-started, run-finished and status. */
const framesPerRun = 4;
const nodeClient: FanoutClient = { kind: 'node', perProcess };

interface CpuSample {
  at: number;
  /** CPU seconds used so far by the daemon, and by all the watcher processes together. */
  daemon: number;
  watchers: number;
}

/** One measurement of the fan-out on a running daemon. */
interface Fanout {
  /** Who read the streams, e.g. "one C process (sse-fanout.c, epoll), at most 50 opening at a time". */
  clientText: string;
  /** Who the CPU line's watcher figure is, e.g. "the C watcher process". */
  watchersText: string;
  connected: number;
  failed: number;
  firstError: string | undefined;
  openSec: number;
  openCores: number;
  run: number;
  /** Per receipt: read time minus the run's startedAt, ms. */
  delay: Summary;
  first: number;
  spread: number;
  closedEarly: number;
  processLines: string[];
  probeText: { first: string; last: string };
  /** CPU seconds from just before the run started until its frames had reached every watcher; undefined when not measured. */
  cpu: { ms: number; daemon: number; watchers: number } | undefined;
  memory: { before: ReturnType<typeof readMemoryMB>; connected: ReturnType<typeof readMemoryMB>; after: ReturnType<typeof readMemoryMB> };
}

const sumCpu = (processes: { pid: number }[]) => processes.reduce((sum, child) => sum + readCpuSeconds(child.pid), 0);
/** Microseconds of CPU per frame written to (or read by) one watcher, for one run's frames. */
const perFrameUs = (seconds: number, watchers: number) => ((seconds * 1e6) / (framesPerRun * watchers)).toFixed(1);

export async function watcherFanout(options: BenchOptions): Promise<FigureReport> {
  const daemon = await startBenchDaemon({ label: 'fanout', extraArgs: ['--heartbeat', '10m'] });
  try {
    // One descriptor per stream in the daemon (the C client raises its own limit; the Node processes inherit this one).
    const fdLimit = readOpenFileLimit(daemon.pid);
    if (fdLimit < watcherCount + 100) throw new Error(`the daemon may open only ${fdLimit} files; 10,000 watchers need ulimit -n of at least ${watcherCount + 100}`);
    const api = new Api(daemon.url);
    await api.submit({ id: 'fanout', type: 'cron', time: `${intervalMs}ms`, script: 'true' });
    await sleep(settleMs);

    const missing = ccMissing();
    if (missing) detail(`C watcher client skipped: ${missing}; the watchers are Node processes (${watcherCount / perProcess} of ${perProcess}) instead`);
    const fanout = await measureFanout(daemon, missing ? nodeClient : { kind: 'c', program: await compileFanoutClient() });
    const { connected, delay, spread } = fanout;
    const { before, connected: connectedMem, after } = fanout.memory;
    const perWatcherKB = ((connectedMem.rss - before.rss) * 1e6) / connected / 1024;
    const details = [
      `${connected} of ${watcherCount} streams opened on one cron task (every ${intervalMs / 1000} s, script "true") from ${fanout.clientText} ` +
        `(open-file limit ${fdLimit}), in ${fanout.openSec.toFixed(1)} s (${Math.round(connected / fanout.openSec)}/s); ` +
        `failed ${fanout.failed}${fanout.firstError ? ` (first: ${fanout.firstError})` : ''}`,
      `daemon CPU while they opened: ${fanout.openCores.toFixed(2)} cores, ${((fanout.openCores * fanout.openSec * 1e6) / Math.max(1, connected)).toFixed(0)} us per stream opened`,
      `run ${fanout.run}'s run-started, startedAt (daemon clock, ms resolution) -> read by the watcher: ${formatSummary(delay)}`,
      `received by ${delay.n} of ${connected} watchers; spread first -> last ${spread.toFixed(1)} ms; streams that ended early ${fanout.closedEarly}`,
      ...fanout.processLines,
      `probes alone in their processes: the stream opened before the 10,000 read it ${fanout.probeText.first} after startedAt, the one opened after them ${fanout.probeText.last} ` +
        `(the daemon writes to a task's watchers in the order they came: about when it began and finished writing this event)`,
      fanout.cpu
        ? `CPU from just before the run started until its ${framesPerRun} frames (status, run-started, run-finished, status) had reached every watcher (${fanout.cpu.ms.toFixed(0)} ms): ` +
          `daemon ${fanout.cpu.daemon.toFixed(2)} s = ${perFrameUs(fanout.cpu.daemon, connected)} us per frame per watcher; ` +
          `${fanout.watchersText} ${fanout.cpu.watchers.toFixed(2)} s = ${perFrameUs(fanout.cpu.watchers, connected)} us`
        : 'CPU per frame: not measured (the run came too late in the sampling, or its events reached the watchers after the next run had begun)',
      `daemon RSS: ${before.rss.toFixed(1)} MB before the watchers, ${connectedMem.rss.toFixed(1)} MB with ${connected} connected ` +
        `(${(connectedMem.rss - before.rss).toFixed(1)} MB more, ${perWatcherKB.toFixed(1)} KiB per watcher; anonymous ${connectedMem.anon.toFixed(1)} MB), ` +
        `${after.rss.toFixed(1)} MB after the event; VmHWM ${after.hwm.toFixed(1)} MB`,
      `(watchers and daemon share this machine's CPUs: a receipt time includes the watcher process reaching that socket)`,
    ];
    for (const line of details) detail(line);
    // The quick run leaves it out: it takes as long as the figure itself.
    if (!missing && !options.quick) detail(await nodeComparison(daemon));

    const met = spread <= maxSpreadMs && delay.n === connected && connected === watcherCount;
    const ours = `${spread.toFixed(0)} ms${missing ? ' (Node watchers: no cc)' : ''}`;
    return { rows: [absoluteRow('6. 10k SSE watchers: last receipt after the first', ours, `<= ${maxSpreadMs} ms`, met)] };
  } finally {
    await daemon.stop();
  }
}

/** The same measurement with the Node watcher processes of before, on the same daemon, as one line. */
async function nodeComparison(daemon: BenchDaemon): Promise<string> {
  const label = `with Node watcher processes instead (${watcherCount / perProcess} of ${perProcess.toLocaleString('en')}, as before)`;
  try {
    await sleep(settleMs); // the C client's 10,000 streams have just closed
    const node = await measureFanout(daemon, nodeClient);
    const cpu = node.cpu
      ? `CPU per frame per watcher: daemon ${perFrameUs(node.cpu.daemon, node.connected)} us, watcher processes ${perFrameUs(node.cpu.watchers, node.connected)} us`
      : 'CPU per frame not measured';
    return (
      `${label}: spread ${node.spread.toFixed(1)} ms (run ${node.run}, received by ${node.delay.n} of ${node.connected} watchers; ` +
      `first ${node.first.toFixed(1)} ms, p50 ${node.delay.p50.toFixed(1)} ms, last ${node.delay.max.toFixed(1)} ms after startedAt; ` +
      `probes ${node.probeText.first} and ${node.probeText.last}); ${cpu}`
    );
  } catch (error) {
    return `${label}: not measured: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`;
  }
}

/** Opens the probes and the 10,000 streams read by `client`, and measures one run's `run-started` across them; closes them all after. */
async function measureFanout(daemon: BenchDaemon, client: FanoutClient): Promise<Fanout> {
  const probe: FanoutClient = { kind: 'node', perProcess: 1 };
  let watchers: FanoutWatchers | undefined;
  let firstProbe: FanoutWatchers | undefined;
  let lastProbe: FanoutWatchers | undefined;
  try {
    const before = readMemoryMB(daemon.pid);
    firstProbe = new FanoutWatchers(daemon.url, 'fanout', 1, probe);
    await firstProbe.ready(openTimeoutMs);
    const openCpu = cpuMeter(daemon.pid);
    const openStarted = performance.now();
    watchers = new FanoutWatchers(daemon.url, 'fanout', watcherCount, client);
    const ready = await watchers.ready(openTimeoutMs);
    const openSec = (performance.now() - openStarted) / 1000;
    const openCores = openCpu();
    lastProbe = new FanoutWatchers(daemon.url, 'fanout', 1, probe);
    await lastProbe.ready(openTimeoutMs);
    const connected = ready.reduce((sum, r) => sum + r.connected, 0);

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

    // The first run that started after every stream was open.
    const run = Math.min(...reports.flatMap((report) => report.runs).filter((r) => Date.parse(r.startedAt) > allOpenAt).map((r) => r.run));
    if (!Number.isFinite(run)) throw new Error('no run started after the watchers were connected');
    const receipts = reports.map((report) => report.runs.find((r) => r.run === run)).filter((r): r is RunReceipts => r !== undefined);
    const startedAt = Date.parse(receipts[0]!.startedAt);
    const delays = receipts.flatMap((r) => r.receipts.map((at) => at - startedAt));
    const delay = summarize(delays);
    const first = Math.min(...delays);

    // CPU from just before the run started until its events (a run of `true` ends within
    // milliseconds) had reached every watcher, before the next run.
    const lastRead = startedAt + delay.max;
    const from = samples.filter((sample) => sample.at <= startedAt).at(-1);
    const to = samples.find((sample) => sample.at >= Math.max(startedAt + 500, lastRead + 100));
    const cpu = from && to && to.at < startedAt + intervalMs ? { ms: to.at - from.at, daemon: to.daemon - from.daemon, watchers: to.watchers - from.watchers } : undefined;
    const probeDelay = (report: FanoutReport | undefined) => {
      const receipt = report?.runs.find((r) => r.run === run)?.receipts[0];
      return receipt === undefined ? 'not received' : `${(receipt - startedAt).toFixed(1)} ms`;
    };
    // Per process, when there are several.
    const processLines =
      receipts.length < 2
        ? []
        : receipts.map((r, index) => {
            const own = summarize(r.receipts.map((at) => at - startedAt));
            const ownFirst = Math.min(...r.receipts) - startedAt;
            return `  process ${index + 1}: ${own.n} receipts, first ${ownFirst.toFixed(1)} ms, p50 ${own.p50.toFixed(1)} ms, last ${own.max.toFixed(1)} ms`;
          });
    const nodeProcesses = client.kind === 'node' ? watchers.processes.length : 0;
    return {
      clientText:
        client.kind === 'c'
          ? 'one C process (sse-fanout.c, epoll), at most 50 opening at a time'
          : `${nodeProcesses} Node processes of ${client.perProcess} (sse-watchers.js), at most 50 opening at a time in each`,
      watchersText: client.kind === 'c' ? 'the C watcher process' : `the ${nodeProcesses} Node watcher processes`,
      connected,
      failed: ready.reduce((sum, r) => sum + r.failed, 0),
      firstError: ready.find((r) => r.firstError !== null)?.firstError ?? undefined,
      openSec,
      openCores,
      run,
      delay,
      first,
      spread: delay.max - first,
      closedEarly: reports.reduce((sum, r) => sum + r.closedEarly, 0),
      processLines,
      probeText: { first: probeDelay(firstReport), last: probeDelay(lastReport) },
      cpu,
      memory: { before, connected: connectedMem, after },
    };
  } finally {
    for (const group of [firstProbe, watchers, lastProbe]) group?.stop();
  }
}
