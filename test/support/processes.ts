/**
 * What tests know of processes, read from /proc: whether one is alive, its group, the members
 * of a group, the processes a run started (by the environment the runner gives them), and a
 * wait until a group is gone. A zombie waiting for its reaper counts as gone everywhere.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './wait.js';

/** A process as /proc/PID/stat shows it (the fields the tests read). */
export interface ProcStat {
  pid: number;
  /** R, S, D, Z, X, ... */
  state: string;
  ppid: number;
  pgid: number;
}

/** The stat of `pid`, or undefined when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone, or never was
  }
  // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]) };
}

/** Every pid in /proc now. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** True while a process exists and is not a zombie waiting to be reaped. */
export function isProcessAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * The live processes of process group `pgid`: what a run left behind, whatever became of its
 * parent (an orphan is re-parented, but keeps its group).
 */
export function processGroupMembers(pgid: number): number[] {
  return allPids().filter((pid) => {
    const stat = procStat(pid);
    return stat !== undefined && stat.pgid === pgid && stat.state !== 'Z' && stat.state !== 'X';
  });
}

/** The process group of a live process; fails when there is no such process. */
export function processGroupOf(pid: number): number {
  const stat = procStat(pid);
  if (!stat) throw new Error(`no process ${pid}: it ended before its group was read`);
  return stat.pgid;
}

/** The environment of `pid` as NAME=value entries; empty when it cannot be read. */
export function environmentOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/**
 * The live processes of the runs of task `taskId` started by the runner whose daemon id is
 * `daemonId` (the runner puts both in every run's environment), this process left out.
 */
export function processesOfTask(daemonId: string, taskId: string): number[] {
  return allPids().filter((pid) => {
    if (pid === process.pid || !isProcessAlive(pid)) return false;
    const environment = environmentOf(pid);
    return environment.includes(`SCHEDULER_DAEMON_ID=${daemonId}`) && environment.includes(`SCHEDULER_TASK_ID=${taskId}`);
  });
}

/** Waits until no process of group `pgid` is left; `what` names the group in the failure. */
export async function waitForGroupGone(pgid: number, what = `group ${pgid}`, timeoutMs = 6_000): Promise<void> {
  await waitFor(`every process of ${what} to be gone`, () => processGroupMembers(pgid).length === 0 || undefined, {
    timeoutMs,
    describe: () => processGroupMembers(pgid).map((pid) => procStat(pid)),
  });
}

/** The executor a daemon started (its child running scheduler-executor), if it has one now. */
export function executorOf(daemonPid: number): number | undefined {
  const children = readFileSync(`/proc/${daemonPid}/task/${daemonPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.find((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('scheduler-executor') && isProcessAlive(child);
    } catch {
      return false; // gone meanwhile
    }
  });
}
