/**
 * The /proc scan behind RunWatch: which processes belong to the watched process groups, and
 * how much memory and CPU time they use. Linux-only. Kept apart from the watch, which
 * decides what a sample means for a run's limits, because reading /proc cheaply (what to
 * read again, what to remember, how to share the event loop) is a concern of its own.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

/** What one sample saw of a run's process group. */
export interface RunSample {
  /** Its processes, zombies left out (they hold no memory, only a process table entry). */
  readonly processes: number;
  /** Their resident memory (RSS) summed, in bytes. */
  readonly memoryBytes: number;
  /** The most CPU time (user + system, in seconds) one of them had used. */
  readonly maxCpuSeconds: number;
}

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
export class ProcScanner {
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
      return new Map(); // no /proc: systemConstants() said so when the watch was made
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
export function systemConstants(): { pageSize: number; clockTicks: number } {
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
