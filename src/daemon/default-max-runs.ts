/**
 * This machine's capacity for runs at once when none is configured (`--max-runs`). It reads
 * the host, so it lives with the composition root, not in the pure scheduling policy
 * (core/run-slots.ts), which takes the number as given.
 */
import { availableParallelism } from 'node:os';

/**
 * Twice the number of CPUs the daemon may use, and at least 4. cron and systemd timers do
 * not bound concurrent jobs at all, and pueue runs one task per group unless told otherwise;
 * neither fits a scheduler whose jobs come in bursts (every `0 * * * *` task fires in the
 * same second). A bound tied to the CPUs keeps a burst of CPU-bound jobs from thrashing the
 * machine; twice as many lets the usual jobs, which wait on disks and networks more than
 * they compute, overlap; and a small machine still runs a few at once (a task under
 * `--overlap allow` needs more than one slot).
 */
export function defaultMaxRuns(): number {
  return Math.max(4, 2 * availableParallelism());
}
