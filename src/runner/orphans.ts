/**
 * Finds the processes of a run that outlived a daemon killed with -9. A run's process group
 * id is its main process id, recorded at start; pids are reused, so a process counts as the
 * run's only if its environment carries the run's markers (SCHEDULER_TASK_ID, SCHEDULER_RUN).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kills the process group `pgid` if it still holds processes of the given run. */
export function killOrphanedRun(taskId: string, run: number, pgid: number): boolean {
  const markers = [`SCHEDULER_TASK_ID=${taskId}`, `SCHEDULER_RUN=${run}`];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (processGroupOf(entry) !== pgid) continue;
      const environment = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!markers.every((marker) => environment.includes(marker))) continue;
      process.kill(-pgid, 'SIGKILL');
      return true;
    } catch {
      // The process ended while we looked, or is not ours to read: not the run's.
    }
  }
  return false;
}

/** The process group of a process, from /proc/PID/stat (field 5, after the command name). */
function processGroupOf(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(afterName[2]);
}
