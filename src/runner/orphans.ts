/**
 * Finds the processes of runs that outlived a daemon killed with -9. Every run's processes
 * carry SCHEDULER_DAEMON_ID in their environment (inherited by everything they start), so
 * at start-up, before it has started anything itself, a daemon recognises what an earlier
 * daemon on the same data directory left running, without trusting recorded pids, which
 * the kernel reuses.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kills the process group of every process marked with `daemonId`; returns how many groups. */
export function killOrphanedRuns(daemonId: string): number {
  const marker = `SCHEDULER_DAEMON_ID=${daemonId}`;
  const groups = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environment = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environment.includes(marker)) groups.add(processGroupOf(entry));
    } catch {
      // The process ended while we looked, or is not ours to read: not a run of ours.
    }
  }
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return groups.size;
}

/** The process group of a process, from /proc/PID/stat (field 5, after the command name). */
function processGroupOf(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(afterName[2]);
}
