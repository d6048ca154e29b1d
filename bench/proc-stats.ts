/** Reads a process's memory and CPU time from /proc (Linux only). */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { wallClockMs } from './script-clock.js';

/** VmRSS, VmHWM (peak RSS) and the anonymous (heap) part of RSS of a process, in MB (10^6 bytes; /proc counts KiB). */
export function readMemoryMB(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return (Number(match[1]) * 1024) / 1e6;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM'), anon: field('RssAnon'), file: field('RssFile') + field('RssShmem') };
}

/** The soft limit on open file descriptors of a process (`ulimit -n`), from /proc/PID/limits. */
export function readOpenFileLimit(pid: number): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!match) throw new Error(`/proc/${pid}/limits has no "Max open files"`);
  return match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

/**
 * Resets a process's VmHWM to its current RSS (Linux 4.0+, writing 5 to clear_refs), so that
 * a later VmHWM is the peak since now. False when the kernel refuses; VmHWM is then the peak
 * since the process started.
 */
export function resetPeakMemory(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** User plus system CPU seconds a process has used so far (all its threads). */
export function readCpuSeconds(pid: number): number {
  return cpuSecondsOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** User plus system CPU seconds in a line of /proc/PID/stat or /proc/PID/task/TID/stat. */
function cpuSecondsOf(stat: string): number {
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * CPU seconds used so far by a process's main thread and by its other threads together
 * (/proc/PID/task; Node names them all "node": the garbage collector's helpers, libuv's pool
 * that runs file system calls, worker threads).
 */
export function readThreadCpuSeconds(pid: number): { main: number; others: number } {
  const seconds = { main: 0, others: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    seconds[Number(tid) === pid ? 'main' : 'others'] += cpuSecondsOf(stat);
  }
  return seconds;
}

/** CPU used by a process between start() and the call of the returned function, in cores. */
export function cpuMeter(pid: number): () => number {
  const cpu0 = readCpuSeconds(pid);
  const t0 = performance.now();
  return () => (readCpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000);
}

/** The machine's CPU time so far from /proc/stat, in ticks (1/100 s): all of it, idle, and stolen by the hypervisor. */
function readMachineTicks(): { total: number; idle: number; steal: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return {
    // guest time is already counted in user: the first 8 fields are the total
    total: ticks.slice(0, 8).reduce((sum, value) => sum + value, 0),
    idle: (ticks[3] ?? 0) + (ticks[4] ?? 0), // idle + iowait
    steal: ticks[7] ?? 0,
  };
}

/** Busy CPU of the whole machine (all processes, kernel included) in cores, from /proc/stat. */
export function machineCpuMeter(): () => number {
  const start = readMachineTicks();
  const t0 = performance.now();
  return () => {
    const now = readMachineTicks();
    return (now.total - now.idle - (start.total - start.idle)) / 100 / ((performance.now() - t0) / 1000);
  };
}

/**
 * Samples the machine's busy CPU (/proc/stat) every 20 ms until stopped, so that how busy the
 * cores were over a stretch known only afterwards (a burst, from T to its last script's
 * clock) can be read back: a burst that leaves cores idle while runs wait is held up by
 * latency (hand-offs between processes), one that keeps them busy by CPU.
 */
export class MachineBusySampler {
  /** Wall-clock ms (wallClockMs(), the scripts' clock) and the busy and total ticks at that moment. */
  private readonly samples: Array<{ at: number; busy: number; total: number }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 20) {
    this.sample();
    // Never what keeps the bench running, should a figure fail before stop().
    this.timer = setInterval(() => this.sample(), everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /**
   * The share of the machine's CPU that was busy from `fromMs` to `toMs` (wall clock), in
   * percent, between the first sample in that stretch and the last (so nothing from outside
   * it dilutes the figure; /proc/stat counts in ticks of 10 ms, so a stretch of a second
   * reads within a couple of percent); undefined when the stretch holds fewer than two.
   */
  busyPercent(fromMs: number, toMs: number): number | undefined {
    const inside = this.samples.filter((sample) => sample.at >= fromMs && sample.at <= toMs);
    const first = inside[0];
    const last = inside.at(-1);
    if (!first || !last || last.total === first.total) return undefined;
    return (100 * (last.busy - first.busy)) / (last.total - first.total);
  }

  private sample(): void {
    const ticks = readMachineTicks();
    this.samples.push({ at: wallClockMs(), busy: ticks.total - ticks.idle, total: ticks.total });
  }
}

/**
 * The share of the machine's CPU time the hypervisor gave to other machines (steal, from
 * /proc/stat) since the call, in percent: on a shared VM, figures measured while it is
 * more than a few percent read worse, and references measured apart from them move too.
 */
export function stolenCpuMeter(): () => number {
  const start = readMachineTicks();
  return () => {
    const now = readMachineTicks();
    const total = now.total - start.total;
    return total > 0 ? (100 * (now.steal - start.steal)) / total : 0;
  };
}

/** The daemon's executor process (src/executor), if it runs one. */
export function executorOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.find((child) => readFileSync(`/proc/${child}/comm`, 'utf8').startsWith('scheduler-exec'));
  } catch {
    return undefined;
  }
}
