/**
 * The watched limits of a run, memory (resident, summed over its processes) and the number
 * of its processes: /proc is sampled every `defaultWatchIntervalMs` for the processes of the
 * run's group, and the first limit found exceeded is reported once; the caller ends the
 * group. It also records the peak CPU time of a process, which tells a run killed at its
 * CPU hard limit (SIGKILL) from one killed otherwise. Linux-only: the samples come from the
 * /proc scan (proc-scan.ts).
 */
import { formatByteSize } from '../core/byte-size.js';
import type { ResourceLimitName, ResourceLimits } from '../core/execution.js';
import { ProcScanner, systemConstants, type RunSample } from './proc-scan.js';
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

/** What a watch needs. */
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
