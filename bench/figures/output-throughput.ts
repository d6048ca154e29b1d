/**
 * Figure 8 (no target): how fast the daemon takes in the output of one run that writes 250 MB to stdout,
 * as printable text and as the NUL bytes of /dev/zero (`head -c 250000000 /dev/zero`): with
 * nobody watching the task, and with one event-stream watcher that reads and discards
 * everything (sse-watchers.js drain, its own process). MB/s is bytes / (finishedAt -
 * startedAt) of the run record. Each case runs in its own daemon, whose peak RSS (VmHWM,
 * reset just before the run) is read after it. The baselines are the same command outside
 * the daemon, each the best of 3: to /dev/null, through a pipe to cat, and read from a pipe by
 * a bare Node process with the daemon's node flags, as the daemon reads it (bare-pipe.js).
 */
import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api } from '../api.js';
import { programNodeFlags, startBenchDaemon } from '../daemon-process.js';
import { readCpuSeconds, readMemoryMB, resetPeakMemory } from '../proc-stats.js';
import { reapAtExit, release } from '../reaper.js';
import { detail, reportedRow, type BenchOptions, type FigureReport, type Row } from '../report.js';
import type { Drained } from '../sse-watchers.js';
import { DrainWatcher } from '../watcher-processes.js';
import { waitUntilFinished } from './wait.js';

const outputBytes = 250_000_000;
/** What the run writes: printable text (lines of 64 characters and a newline), and the NUL bytes of /dev/zero, which JSON escapes as 6 characters each. */
const payloads = [
  { name: 'text', script: `yes ${'0123456789abcdef'.repeat(4)} | head -c ${outputBytes}` },
  { name: 'NUL bytes', script: `head -c ${outputBytes} /dev/zero` },
];
const runDeadlineMs = 60_000;
const baselineTries = 3;
const mb = (bytes: number) => bytes / 1e6;
const rate = (ms: number) => mb(outputBytes) / (ms / 1000);

interface DaemonCase {
  mbPerSec: number;
  durationMs: number;
  idleRss: number;
  peakRss: number;
  peakSinceRun: boolean;
  cpuSec: number;
  recordedBytes: number;
  droppedBytes: number;
  drained?: Drained;
  startedAt: number;
  finishedAt: number;
}

export async function outputThroughput(options: BenchOptions): Promise<FigureReport> {
  const details: string[] = [`one run writing ${mb(outputBytes)} MB to stdout (default --output-cap 1MiB), each case in a fresh daemon${options.quick ? '; quick: text only' : ''}`];
  const rows: Row[] = [];
  for (const { name, script } of options.quick ? payloads.slice(0, 1) : payloads) {
    const alone = await measureDaemon(script, false);
    const watched = await measureDaemon(script, true);
    const toNull = await bestOf(() => timeBash(`${script} > /dev/null`));
    const throughCat = await bestOf(() => timeBash(`${script} | cat > /dev/null`));
    const nodePipe = await bestOf(() => timeBarePipe(script));
    rows.push(
      reportedRow(`8. output of one run (${name}), unwatched`, `${alone.mbPerSec.toFixed(0)} MB/s`, `${rate(nodePipe).toFixed(0)} MB/s bare Node pipe`, `${(alone.mbPerSec / rate(nodePipe)).toFixed(2)}x`),
      reportedRow(`8. output of one run (${name}), one SSE watcher`, `${watched.mbPerSec.toFixed(0)} MB/s`),
    );
    details.push(
      `${name}: "${script}"`,
      caseLine('no watcher', alone),
      caseLine('one SSE watcher reading and discarding', watched),
      watcherLine(watched),
      `  bare, outside the daemon (best of ${baselineTries}): "> /dev/null" ${rate(toNull).toFixed(0)} MB/s (${toNull.toFixed(0)} ms); ` +
        `"| cat > /dev/null" ${rate(throughCat).toFixed(0)} MB/s (${throughCat.toFixed(0)} ms); ` +
        `read from a pipe by a bare Node process ${rate(nodePipe).toFixed(0)} MB/s (${nodePipe.toFixed(0)} ms)`,
    );
  }
  for (const line of details) detail(line);
  return { rows };
}

function caseLine(name: string, c: DaemonCase): string {
  return (
    `  ${name}: ${c.mbPerSec.toFixed(0)} MB/s (${c.durationMs.toFixed(0)} ms); daemon CPU ${c.cpuSec.toFixed(2)} s; ` +
    `RSS ${c.idleRss.toFixed(1)} MB before, peak ${c.peakRss.toFixed(1)} MB${c.peakSinceRun ? ' during the run' : ' (VmHWM since start)'}; ` +
    `recorded ${c.recordedBytes} bytes, ${c.droppedBytes} dropped from the middle`
  );
}

function watcherLine(c: DaemonCase): string {
  const drained = c.drained;
  if (!drained) return '    the watcher reported nothing';
  const got =
    `    the watcher read ${mb(drained.bodyBytes).toFixed(1)} MB of event stream, announcing ${mb(drained.stdoutBytes).toFixed(1)} MB of stdout ` +
    `(${((drained.stdoutBytes / outputBytes) * 100).toFixed(1)}%) in ${drained.stdoutEvents} output events, ${drained.gaps} gaps; `;
  if (!drained.endedNormally) {
    return `${got}the stream was cut off ${((drained.endedAt - c.startedAt) / 1000).toFixed(1)} s into the run (${drained.error}): it did not keep up`;
  }
  const lag = drained.runFinishedReadAt === null ? '' : `, run-finished read ${(drained.runFinishedReadAt - c.finishedAt).toFixed(0)} ms after finishedAt`;
  return `${got}the stream ended normally${lag}`;
}

async function measureDaemon(script: string, withWatcher: boolean): Promise<DaemonCase> {
  const daemon = await startBenchDaemon({ label: withWatcher ? 'output-watched' : 'output' });
  let watcher: DrainWatcher | undefined;
  try {
    const api = new Api(daemon.url);
    // Due shortly, so that the watcher is connected before the run starts.
    await api.submit({ id: 'output', type: 'delay', time: '500ms', script });
    if (withWatcher) {
      watcher = new DrainWatcher(daemon.url, 'output');
      await watcher.ready(10_000);
    }
    const idle = readMemoryMB(daemon.pid);
    const peakSinceRun = resetPeakMemory(daemon.pid);
    const cpu0 = readCpuSeconds(daemon.pid);
    const task = await waitUntilFinished(api, 'output', runDeadlineMs);
    const cpuSec = readCpuSeconds(daemon.pid) - cpu0;
    const peak = readMemoryMB(daemon.pid).hwm;
    const run = task.results[0];
    if (!run?.startedAt || !run.finishedAt) throw new Error(`the run did not start or finish: ${JSON.stringify(run)?.slice(0, 200)}`);
    const durationMs = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
    const drained = watcher ? await watcher.drained(30_000) : undefined;
    return {
      mbPerSec: mb(run.stdoutBytes) / (durationMs / 1000),
      durationMs,
      idleRss: idle.rss,
      peakRss: peak,
      peakSinceRun,
      cpuSec,
      recordedBytes: run.stdoutBytes,
      droppedBytes: run.stdoutDroppedBytes,
      startedAt: Date.parse(run.startedAt),
      finishedAt: Date.parse(run.finishedAt),
      ...(drained ? { drained } : {}),
    };
  } finally {
    watcher?.stop();
    await daemon.stop();
  }
}

/** Milliseconds from spawning `bash -c command` to its exit. */
function timeBash(command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/bin/bash', ['-c', command], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`"${command}" exited with ${code}`))));
  });
}

/** Milliseconds for a bare Node process with the daemon's flags to read the script's stdout from a pipe. */
async function timeBarePipe(script: string): Promise<number> {
  const program = join(dirname(fileURLToPath(import.meta.url)), '..', 'bare-pipe.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [...programNodeFlags, program, script], { timeout: 100_000 }, (error, out) => {
      release(child);
      if (error) reject(error);
      else resolve(out);
    });
    reapAtExit(child);
  });
  const { bytes, ms } = JSON.parse(stdout) as { bytes: number; ms: number };
  if (bytes !== outputBytes) throw new Error(`bare-pipe.js read ${bytes} of ${outputBytes} bytes`);
  return ms;
}

/** The least of `baselineTries` timings: the floor, least disturbed by whatever else runs. */
async function bestOf(time: () => Promise<number>): Promise<number> {
  let best = Infinity;
  for (let attempt = 0; attempt < baselineTries; attempt++) best = Math.min(best, await time());
  return best;
}
