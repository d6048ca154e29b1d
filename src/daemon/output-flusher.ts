/**
 * Writes the output of this node's runs to the shared store about every second, so that a
 * node whose watchers follow one of them sees its output soon (the lease renewal writes it
 * too, but only every --lease-renew). Only runs that wrote something since the last flush
 * are written, all in one statement (the renewal's: it also extends their leases, fenced by
 * the node's home). A failure is reported and the next beat tries again.
 */
import { runKeyOf } from '../core/task.js';
import type { FaultReporter } from '../engine/fault-log.js';
import type { LiveRun, RunLeases } from '../store/run-leases.js';

/** What the flusher needs. */
export interface OutputFlusherOptions {
  /** This node's runs in progress, with their output so far. */
  runs(): LiveRun[];
  leases: Pick<RunLeases, 'renew'>;
  everyMs: number;
  faults: FaultReporter;
}

/** Flushes changed output of the runs here, every `everyMs`. */
export class OutputFlusher {
  /** Bytes written by each run at its last flush. */
  private readonly flushed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: OutputFlusherOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.flushing ??= this.flush()
        .catch((error) => this.options.faults.report('output-flush', { error }, 'could not write the output of the runs here for other nodes to follow; trying again'))
        .finally(() => (this.flushing = undefined));
    }, this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
  }

  private async flush(): Promise<void> {
    const runs = this.options.runs();
    const written = new Map(runs.map((run) => [runKeyOf(run.taskId, run.run), run.stdout.totalBytes + run.stderr.totalBytes]));
    const changed = runs.filter((run) => (this.flushed.get(runKeyOf(run.taskId, run.run)) ?? 0) !== written.get(runKeyOf(run.taskId, run.run)));
    if (changed.length > 0) await this.options.leases.renew(changed);
    // Runs that wrote nothing new stay as they were; those gone are forgotten.
    for (const name of this.flushed.keys()) if (!written.has(name)) this.flushed.delete(name);
    for (const run of changed) this.flushed.set(runKeyOf(run.taskId, run.run), written.get(runKeyOf(run.taskId, run.run))!);
  }
}
