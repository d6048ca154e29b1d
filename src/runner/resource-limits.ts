/**
 * Enforcing a run's resource limits, and telling which one a run hit.
 *
 * - CPU seconds and open files are kernel rlimits, set by the gate shell right before the
 *   script runs (`ulimitPrefix`), so they hold for the script and everything it starts. They
 *   are limits of each process, not of the run: RLIMIT_CPU counts the CPU time of one
 *   process (all its threads), RLIMIT_NOFILE the descriptors one process may have open.
 *   A process over its CPU time gets SIGXCPU (which kills it unless caught or ignored), and
 *   SIGKILL `cpuHardMarginSeconds` later. A process at its open files limit gets EMFILE from
 *   open(), which the script sees as an error; a run that failed saying "Too many open files" on
 *   stderr is taken to have hit it.
 * - Resident memory (summed over the run's processes) and the number of processes are
 *   watched by sampling /proc (run-watch.ts); the caller ends the run's group.
 */
import { formatByteSize } from '../core/byte-size.js';
import { formatDuration } from '../core/duration.js';
import type { ResourceLimitName, ResourceLimits } from '../core/execution.js';

// ---------------------------------------------------------------------------------------------
// Kernel limits (rlimits), set in the gate shell.

/** The CPU hard limit is this many seconds above the soft one: a process that catches SIGXCPU gets that long to finish. */
export const cpuHardMarginSeconds = 1;

/** The status the gate shell exits with when it cannot set the limits (the script does not run). */
export const ulimitFailedStatus = 126;

/**
 * The bash that sets the run's rlimits, to be placed right before the script in the gate
 * shell (`eval "unset __go __s; ${prefix}$__s"`, or `${prefix}exec "$@"`); '' when there are none.
 * For example, for 10 CPU seconds and 64 open files:
 *
 *     ulimit -t 11 && ulimit -S -t 10 && ulimit -c 0 && ulimit -n 64 || exit 126;
 *
 * - `-t` is CPU seconds, `-n` open files; with neither -S nor -H bash sets both the soft and
 *   the hard limit. The kernel refuses a soft limit above the hard one at every step, so the
 *   CPU limits are set as soft = hard = N+1 first (valid whatever the shell inherited), then
 *   the soft one lowered to N. (Soft first then hard fails when the inherited hard limit is
 *   below N; hard first fails when the inherited soft limit, usually unlimited, is above N+1.)
 * - It ends in `|| exit 126; `, not `&& `: a script is many lines, and `A && line1\nline2`
 *   would guard line 1 only, and `A && ` before an empty or comment-only script is a syntax
 *   error. A limit that cannot be set (above the inherited hard limit for a daemon that is
 *   not root, above fs.nr_open) ends the shell before the script: bash says why on stderr.
 * - Everything stays on the script's first line, so bash's line numbers in error messages
 *   are the script's own.
 *
 * Limits must be whole numbers, at least 1 (they are written into shell code): a RangeError
 * otherwise.
 */
export function ulimitPrefix(limits: ResourceLimits): string {
  const commands: string[] = [];
  if (limits.cpuSeconds !== undefined) {
    const soft = wholeNumber(limits.cpuSeconds, 'cpuSeconds');
    // SIGXCPU dumps core by default: a run hitting its limit must not leave core files behind.
    commands.push(`ulimit -t ${soft + cpuHardMarginSeconds}`, `ulimit -S -t ${soft}`, 'ulimit -c 0');
  }
  if (limits.openFiles !== undefined) commands.push(`ulimit -n ${wholeNumber(limits.openFiles, 'openFiles')}`);
  if (commands.length === 0) return '';
  return `${commands.join(' && ')} || exit ${ulimitFailedStatus}; `;
}

function wholeNumber(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1, not ${value}`);
  return value;
}

/** SIGXCPU is signal 24 on Linux (x86, arm, arm64, riscv; not mips, sparc, alpha); bash reports a child it killed as 128 + 24. */
const sigxcpuStatus = 128 + 24;
/** A child killed by SIGKILL, as bash reports it. */
const sigkillStatus = 128 + 9;

/** What a watch saw of a run's CPU time: RunWatch provides it. */
export interface ObservedCpu {
  /** The most CPU time one process of the run was seen to have used, in seconds. */
  readonly peakCpuSeconds: number;
}

/** strerror(EMFILE): what bash, python, node and most programs print when an open fails at the limit. */
const tooManyOpenFiles = 'Too many open files';

/**
 * Which kernel-enforced limit a run that ended on its own hit: 'cpu', 'open_files', or null.
 * Memory and processes are reported by RunWatch as they happen, output by the output count,
 * wall time by the timeout; the caller decides first whether it ended the run itself. CPU
 * time, with `cpuSeconds` set:
 *
 * - the main process died of SIGXCPU (the script's shell, or the interpreter that replaced
 *   it, went over the soft limit), or
 * - the main shell exited with 152 = 128 + SIGXCPU, bash's status when the command it ran
 *   last was killed by SIGXCPU (a script that itself does `exit 152` is taken for one), or
 * - the main process died of SIGKILL, or the main shell exited with 137 = 128 + SIGKILL, and
 *   `observed` (the run's RunWatch) saw a process of the run at or over the soft limit: it
 *   caught or ignored SIGXCPU and the kernel killed it at the hard limit. Without `observed`
 *   (or if a watch sample did not come between the soft and the hard limit, as with a
 *   process running several threads, which burns CPU seconds faster than wall seconds) such a
 *   run is not recognised.
 *
 * Open files, with `openFiles` set: the run failed and its stderr says "Too many open files"
 * (the kernel only refuses the open; the program decides what to do, and says so this way).
 *
 * Not recognised: a process that went over its CPU limit when it was not the last command
 * (the script went on, and exited with another status), a main process other than bash (an
 * interpreter) whose child went over, and an open refused without that message on stderr.
 */
export function limitFromExit(
  limits: ResourceLimits,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  observed?: ObservedCpu,
  stderr = '',
): ResourceLimitName | null {
  const { cpuSeconds, openFiles } = limits;
  if (cpuSeconds !== undefined) {
    if (exit.signal === 'SIGXCPU' || exit.code === sigxcpuStatus) return 'cpu';
    const killed = exit.signal === 'SIGKILL' || exit.code === sigkillStatus;
    if (killed && observed !== undefined && observed.peakCpuSeconds >= cpuSeconds) return 'cpu';
  }
  const failed = exit.code !== 0;
  if (openFiles !== undefined && failed && stderr.includes(tooManyOpenFiles)) return 'open_files';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Messages.

/**
 * The message recorded on a run that hit limit `name`: "hit its memory limit (64MiB)".
 * `timeoutMs` is the wall time limit (the task's timeout), which ResourceLimits does not hold.
 * Without the limit's value, the message leaves it out: "hit its memory limit".
 */
export function describeLimit(name: ResourceLimitName, limits: ResourceLimits, timeoutMs?: number): string {
  const [what, value] = ((): [string, string | undefined] => {
    switch (name) {
      case 'cpu':
        return ['CPU time', limits.cpuSeconds === undefined ? undefined : formatDuration(limits.cpuSeconds * 1000)];
      case 'memory':
        return ['memory', limits.memoryBytes === undefined ? undefined : formatByteSize(limits.memoryBytes)];
      case 'processes':
        return ['process', limits.processes === undefined ? undefined : String(limits.processes)];
      case 'open_files':
        return ['open files', limits.openFiles === undefined ? undefined : String(limits.openFiles)];
      case 'output':
        return ['output', limits.outputBytes === undefined ? undefined : formatByteSize(limits.outputBytes)];
      case 'wall_time':
        return ['wall time', timeoutMs === undefined ? undefined : formatDuration(timeoutMs)];
    }
  })();
  return value === undefined ? `hit its ${what} limit` : `hit its ${what} limit (${value})`;
}
