/**
 * The burst reference: spawn-loop.c, compiled with the machine's `cc` the first time it is
 * needed (c-program.ts), spawns the same scripts as the daemon from a tight posix_spawn
 * loop. Without `cc` the reference is skipped, and the figure says why.
 */
import { ccMissing, compileC, runProgram } from '../c-program.js';
import { MachineBusySampler } from '../proc-stats.js';

/** Why the C reference cannot run here, or undefined when `cc` is there. */
export const spawnLoopMissing = ccMissing;

/** What one run of the loop measured. */
export interface SpawnLoopBurst {
  /** Per script, its clock minus the moment the loop started, in ms (scripts that printed no clock left out). */
  late: number[];
  /** How busy the machine's cores were, in percent, from the loop's start until the last script printed its clock. */
  machineBusy: number | undefined;
}

/** Runs the loop over `count` scripts; with `cap`, at most that many run at once (spawn-loop.c). */
export async function spawnLoopBurst(count: number, script: string, cap?: number): Promise<SpawnLoopBurst> {
  const program = await compileC('reference/spawn-loop.c');
  const machine = new MachineBusySampler();
  let stdout: string;
  try {
    stdout = await runProgram(program, [String(count), script, ...(cap === undefined ? [] : [String(cap)])], 120_000);
  } finally {
    machine.stop();
  }
  const parsed = JSON.parse(stdout) as { late: (number | null)[]; startMs: number };
  const late = parsed.late.filter((value): value is number => value !== null);
  return { late, machineBusy: machine.busyPercent(parsed.startMs, parsed.startMs + Math.max(...late)) };
}
