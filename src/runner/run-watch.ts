/**
 * The watched limits of a run, memory (resident, summed over its processes) and the number
 * of its processes: /proc is sampled every `defaultWatchIntervalMs` for the processes of the
 * run's group, and the first limit found exceeded is reported once; the caller ends the
 * group. It also records the peak CPU time of a process, which tells a run killed at its
 * CPU hard limit (SIGKILL) from one killed otherwise. Linux-only: it reads /proc.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { formatByteSize } from '../core/byte-size.js';
import type { ResourceLimitName, ResourceLimits } from '../core/execution.js';
import type { ObservedCpu } from './resource-limits.js';

/**
 * How often the watched limits are sampled. A process faults memory in at about 1 GB/s (0.8
 * to 1.2 GB/s measured on a 2-vCPU VM; more on bigger hardware), so a run can go over its
 * memory limit by up to ~100 MB before it is caught, and bash forks on the order of a
 * hundred processes in 100 ms. One sample for all the watches of an interval costs one
 * readdir of /proc plus one read per process of a watched run (other processes are
 * remembered between samples), measured on that VM at ~0.5 ms with ~100 processes and 1 run,
 * ~1.3 ms with 10 runs (30 processes), ~4 to 6 ms with 50 runs (150 processes) among 1,200:
 * about 1% of a core for ten runs, 5% for fifty. Every 5 s a sample re-reads every process
 * (~3 to 7 ms for 100 to 250 processes, 20 to 45 ms for 1,200). Nothing is sampled while no
 * run is watched: the timer stops.
 */
export const defaultWatchIntervalMs = 100;

/** Every this many milliseconds a sample reads every process again, forgetting what it remembered. */
const fullScanEveryMs = 5000;

/** What one sample saw of a run's process group. */
export interface RunSample {
  /** Its processes, zombies left out (they hold no memory, only a process table entry). */
  readonly processes: number;
  /** Their resident memory (RSS) summed, in bytes. */
  readonly memoryBytes: number;
  /** The most CPU time (user + system, in seconds) one of them had used. */
  readonly maxCpuSeconds: number;
}

export interface RunWatchOptions {
  /** The process group of the run: the pid of its gate shell, which leads its own session (spawned detached). */
  pgid: number;
  limits: ResourceLimits;
  /** How often to sample; watches with the same interval share one timer and one /proc scan. */
  intervalMs?: number;
  /** Called at most once, with the first limit found exceeded; the caller then ends the group. */
  onLimit: (name: ResourceLimitName, detail: string) => void;
}

/** True when a run's limits need a RunWatch: memory or processes, or a CPU limit (to tell a hard-limit SIGKILL). */
export function needsWatch(limits: ResourceLimits): boolean {
  return limits.memoryBytes !== undefined || limits.processes !== undefined || limits.cpuSeconds !== undefined;
}

/**
 * Watches the processes of one run (those whose process group is `pgid`, wherever they are in
 * the process tree, orphans included) for its memory and process limits, from when it is
 * made until stop(), which the caller must call when the run ends (a pgid is reused by the
 * kernel after that). When the run has more processes than `limits.processes`, or their
 * resident memory summed is more than `limits.memoryBytes`, it calls onLimit once (if both,
 * in the same sample: processes, the cause of the memory more often than not). It goes on
 * sampling after that, for the peaks, until stopped.
 *
 * Resident memory is each process's RSS: memory shared between the run's processes (shared
 * libraries, pages a fork has not yet copied) is counted once per process, swapped-out
 * memory not at all. A process that moves to a group of its own (setsid, setpgid, bash's
 * `set -m`) is no longer watched.
 */
export class RunWatch implements ObservedCpu {
  readonly pgid: number;
  private readonly limits: ResourceLimits;
  private readonly onLimit: RunWatchOptions['onLimit'];
  private readonly sampler: Sampler;
  private stopped = false;
  private sampleCount = 0;
  private lastSample: RunSample | null = null;
  private peakMemory = 0;
  private peakProcessCount = 0;
  private peakCpu = 0;
  private hit: ResourceLimitName | null = null;

  constructor(options: RunWatchOptions) {
    if (!Number.isSafeInteger(options.pgid) || options.pgid <= 1) throw new RangeError(`not a process group to watch: ${options.pgid}`);
    systemConstants(); // throws where there is no /proc: better at the start of a run than never noticed
    this.pgid = options.pgid;
    this.limits = { ...options.limits };
    this.onLimit = options.onLimit;
    this.sampler = samplerFor(options.intervalMs ?? defaultWatchIntervalMs);
    this.sampler.add(this);
  }

  /** Stops sampling: onLimit is not called after this. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sampler.remove(this);
  }

  /** How many samples the watch has taken. */
  get samples(): number {
    return this.sampleCount;
  }

  /** The last sample; null before the first. */
  get last(): RunSample | null {
    return this.lastSample;
  }

  /** The limit reported to onLimit; null if none yet. */
  get limitHit(): ResourceLimitName | null {
    return this.hit;
  }

  get peakMemoryBytes(): number {
    return this.peakMemory;
  }

  get peakProcesses(): number {
    return this.peakProcessCount;
  }

  /** The most CPU time one process of the run was seen to have used, in seconds (for limitFromExit). */
  get peakCpuSeconds(): number {
    return this.peakCpu;
  }

  /** For the sampler: takes one sample; returns the onLimit call to make, if a limit was hit, for the sampler to make once every watch has its sample. */
  observe(sample: RunSample): (() => void) | undefined {
    if (this.stopped) return undefined;
    this.sampleCount++;
    this.lastSample = sample;
    this.peakMemory = Math.max(this.peakMemory, sample.memoryBytes);
    this.peakProcessCount = Math.max(this.peakProcessCount, sample.processes);
    this.peakCpu = Math.max(this.peakCpu, sample.maxCpuSeconds);
    if (this.hit !== null) return undefined;
    const { processes, memoryBytes } = this.limits;
    let detail: string | undefined;
    if (processes !== undefined && sample.processes > processes) {
      this.hit = 'processes';
      // The limit itself is in the run's message already (describeLimit): say what was seen.
      detail = `${sample.processes} processes at once`;
    } else if (memoryBytes !== undefined && sample.memoryBytes > memoryBytes) {
      this.hit = 'memory';
      const count = sample.processes === 1 ? '1 process' : `${sample.processes} processes`;
      detail = `${formatByteSize(sample.memoryBytes)} resident in ${count}`;
    }
    if (detail === undefined) return undefined;
    const name = this.hit!;
    const text = detail;
    return () => {
      if (!this.stopped) this.onLimit(name, text);
    };
  }
}

/** The samplers in use, by interval; each has one timer and scans /proc once per tick for all its watches. */
const samplers = new Map<number, Sampler>();

function samplerFor(intervalMs: number): Sampler {
  if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError(`a watch interval must be at least 1 ms, not ${intervalMs}`);
  let sampler = samplers.get(intervalMs);
  if (!sampler) {
    sampler = new Sampler(intervalMs);
    samplers.set(intervalMs, sampler);
  }
  return sampler;
}

/** The watches of one interval, sampled together. */
class Sampler {
  private readonly watches = new Set<RunWatch>();
  private readonly scanner: ProcScanner;
  private timer: NodeJS.Timeout | undefined;
  private scanning = false;

  constructor(private readonly intervalMs: number) {
    this.scanner = new ProcScanner(Math.max(1, Math.round(fullScanEveryMs / intervalMs)));
  }

  add(watch: RunWatch): void {
    this.watches.add(watch);
    this.schedule();
  }

  remove(watch: RunWatch): void {
    this.watches.delete(watch);
    if (this.watches.size > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (samplers.get(this.intervalMs) === this) samplers.delete(this.intervalMs);
  }

  /** The next sample, intervalMs after the end of the last (a slow scan never overlaps the next one). */
  private schedule(): void {
    if (this.timer !== undefined || this.scanning || this.watches.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick().catch((error: unknown) => {
        process.nextTick(() => {
          throw error; // an onLimit that threw: uncaught, as in any other callback
        });
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    // The watches sampled are those there when the scan begins: one made during the scan
    // was not looked for.
    const watches = [...this.watches];
    const groups = new Set(watches.map((watch) => watch.pgid));
    this.scanning = true;
    let usage: Map<number, RunSample>;
    try {
      usage = await this.scanner.scan(groups);
    } catch {
      return; // /proc could not be read this time (it never should): the next tick tries again
    } finally {
      this.scanning = false;
      this.schedule();
    }
    // Every watch sees this sample before any callback runs: a callback may stop watches.
    const calls: Array<() => void> = [];
    for (const watch of watches) {
      const call = watch.observe(usage.get(watch.pgid) ?? emptySample);
      if (call) calls.push(call);
    }
    // A callback that throws must not keep the others from being called: the first error is
    // rethrown after them.
    let failure: { error: unknown } | undefined;
    for (const call of calls) {
      try {
        call();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

const emptySample: RunSample = Object.freeze({ processes: 0, memoryBytes: 0, maxCpuSeconds: 0 });

/** What /proc/PID/stat says that matters here. */
export interface ProcStat {
  /** R, S, D, Z (zombie), T, t, X, I... */
  state: string;
  pgid: number;
  sid: number;
  /** User plus system CPU time, in clock ticks (of all its threads). */
  cpuTicks: number;
  /** Resident set size, in pages. */
  rssPages: number;
}

/**
 * Parses the content of /proc/PID/stat: `pid (comm) state ppid pgrp session ...`. The command
 * name (comm) may contain spaces and parentheses, so the fields are counted from the LAST ')'.
 * After it come, 1-based as in proc(5): 3 state, 5 pgrp, 6 session, 14 utime, 15 stime,
 * 24 rss. Null when the text is not a stat line.
 */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // fields[i] is proc(5) field i + 3.
  const fields = text.slice(close + 2).split(' ');
  if (fields.length < 22) return null;
  const pgid = Number(fields[2]);
  const sid = Number(fields[3]);
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  if (![pgid, sid, cpuTicks, rssPages].every(Number.isFinite)) return null;
  return { state: fields[0]!, pgid, sid, cpuTicks, rssPages };
}

/** Where a process was last seen, for one that belonged to no watched group. */
interface ForeignProcess {
  pgid: number;
  sid: number;
  /** The number of the last scan that saw its pid in /proc. */
  seen: number;
}

/** A scan gives the event loop a turn at least this often (timers, such as a run's release, wait at most this long). */
const maxSliceMs = 1;

/**
 * Scans /proc for the processes of given process groups. Reading a process's stat file
 * costs ~8 to 13 µs (on this VM), so the scanner remembers the group and session of the
 * processes outside the watched groups and does not read them again: a process can only
 * join a group of its own session (setpgid), a watched group leads its own session, and a
 * process that leaves its session (setsid) gets the group and session of its own pid. What
 * it reads each time: the processes of the watched groups and of their sessions, those whose
 * pid is a watched group, and new pids. A pid missing from /proc is forgotten (so a pid
 * reused is read again, unless it was freed and reused between two scans), and every
 * `fullScanEvery` scans everything is read again, which bounds what a mistake can miss.
 *
 * The scan is cut into slices of about a millisecond, between which the event loop runs.
 */
class ProcScanner {
  private readonly foreign = new Map<number, ForeignProcess>();
  private readonly buffer = Buffer.allocUnsafe(4096);
  private scans = 0;

  constructor(private readonly fullScanEvery: number) {}

  async scan(groups: ReadonlySet<number>): Promise<Map<number, RunSample>> {
    const { pageSize, clockTicks } = systemConstants();
    const totals = new Map<number, { processes: number; rssPages: number; maxCpuTicks: number }>();
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return new Map(); // no /proc: RunWatch's constructor checked it was there
    }
    const scan = ++this.scans;
    if ((scan - 1) % this.fullScanEvery === 0) this.foreign.clear();
    let sliceStart = performance.now();
    for (const entry of entries) {
      const first = entry.charCodeAt(0);
      if (first < 48 || first > 57) continue; // not a pid
      if (performance.now() - sliceStart > maxSliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      const pid = Number(entry);
      const known = this.foreign.get(pid);
      if (known && !groups.has(known.sid) && !groups.has(known.pgid) && !groups.has(pid)) {
        known.seen = scan;
        continue;
      }
      const stat = this.readStat(pid);
      if (stat === null) continue; // it ended between readdir and read, or cannot be read
      if (!groups.has(stat.pgid)) {
        this.foreign.set(pid, { pgid: stat.pgid, sid: stat.sid, seen: scan });
        continue;
      }
      this.foreign.delete(pid);
      if (stat.state === 'Z' || stat.state === 'X') continue;
      let total = totals.get(stat.pgid);
      if (!total) {
        total = { processes: 0, rssPages: 0, maxCpuTicks: 0 };
        totals.set(stat.pgid, total);
      }
      total.processes++;
      total.rssPages += stat.rssPages;
      total.maxCpuTicks = Math.max(total.maxCpuTicks, stat.cpuTicks);
    }
    for (const [pid, known] of this.foreign) if (known.seen !== scan) this.foreign.delete(pid);
    const samples = new Map<number, RunSample>();
    for (const [pgid, total] of totals) {
      samples.set(pgid, {
        processes: total.processes,
        memoryBytes: total.rssPages * pageSize,
        maxCpuSeconds: total.maxCpuTicks / clockTicks,
      });
    }
    return samples;
  }

  /** Open, one read, close: /proc files report size 0, so readFileSync would read twice more. */
  private readStat(pid: number): ProcStat | null {
    let fd: number;
    try {
      fd = openSync(`/proc/${pid}/stat`, 'r');
    } catch {
      return null; // ENOENT: it ended
    }
    try {
      const length = readSync(fd, this.buffer, 0, this.buffer.length, 0);
      return parseProcStat(this.buffer.toString('latin1', 0, length));
    } catch {
      return null; // ESRCH: it ended after the open
    } finally {
      closeSync(fd);
    }
  }
}

let constants: { pageSize: number; clockTicks: number } | undefined;

/**
 * The page size (RSS in /proc is in pages: 4 KiB on x86_64, but 16 or 64 KiB on some arm64
 * kernels) and clock ticks per second (CPU times in /proc; 100 on Linux), from getconf, once.
 * /proc/self is checked for readability at the same time.
 */
function systemConstants(): { pageSize: number; clockTicks: number } {
  if (constants) return constants;
  readFileSync('/proc/self/stat'); // throws where there is no /proc: watching cannot work
  const pageSize = getconf('PAGESIZE') ?? pageSizeFromSelf() ?? 4096;
  const clockTicks = getconf('CLK_TCK') ?? 100;
  constants = { pageSize, clockTicks };
  return constants;
}

function getconf(name: string): number | undefined {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim());
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Without getconf: this process's VmRSS (in KiB) over its resident pages, rounded to a power of two. */
function pageSizeFromSelf(): number | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const residentPages = Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    if (!(residentPages > 0 && rssKiB > 0)) return undefined;
    return 2 ** Math.round(Math.log2((rssKiB * 1024) / residentPages));
  } catch {
    return undefined;
  }
}
