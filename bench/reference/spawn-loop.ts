/**
 * The burst reference: spawn-loop.c, compiled with the machine's `cc` the first time it is
 * needed (c-program.ts), spawns the same scripts as the daemon from a tight posix_spawn
 * loop. Without `cc` the reference is skipped, and the figure says why.
 */
import { ccMissing, compileC, runProgram } from '../c-program.js';

/** Why the C reference cannot run here, or undefined when `cc` is there. */
export const spawnLoopMissing = ccMissing;

/**
 * Per script, its clock minus the moment the loop started, in ms (scripts that printed no
 * clock left out); with `cap`, at most that many scripts run at once (spawn-loop.c).
 */
export async function spawnLoopLateness(count: number, script: string, cap?: number): Promise<number[]> {
  const program = await compileC('reference/spawn-loop.c');
  const stdout = await runProgram(program, [String(count), script, ...(cap === undefined ? [] : [String(cap)])], 120_000);
  const { late } = JSON.parse(stdout) as { late: (number | null)[] };
  return late.filter((value): value is number => value !== null);
}
