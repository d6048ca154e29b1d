/**
 * A RunLauncher whose runs end only when a test says so, for server tests that need a run
 * to stay in progress (a cron task stopped while it executes). The real ProcessRunner is
 * used everywhere else.
 */
import type { RunResult } from '../../src/core/transition.js';
import type { RunningProcess, RunSpec } from '../../src/runner/process-runner.js';
import type { RunLauncher } from '../../src/runner/run-launcher.js';

/** One run the launcher was asked to start. */
export interface ManualRun {
  spec: RunSpec;
  /** True once the engine asked for the run to be killed. */
  killed: boolean;
  /** Ends the run the way the runner would report it. */
  finish(result?: Partial<RunResult>): void;
}

export class ManualLauncher implements RunLauncher {
  readonly runs: ManualRun[] = [];

  start(spec: RunSpec): RunningProcess {
    let resolve!: (result: RunResult) => void;
    const finished = new Promise<RunResult>((settle) => {
      resolve = settle;
    });
    const startedAt = Date.now();
    const entry: ManualRun = {
      spec,
      killed: false,
      finish: (result = {}) =>
        resolve({
          outcome: 'succeeded',
          startedAt,
          finishedAt: Date.now(),
          exitCode: 0,
          signal: null,
          error: null,
          stdout: { text: `${spec.taskId} run ${spec.run}\n`, totalBytes: 0, truncated: false },
          stderr: { text: '', totalBytes: 0, truncated: false },
          outputCap: 4096,
          ...result,
        }),
    };
    this.runs.push(entry);
    return {
      pid: undefined,
      finished,
      kill: () => {
        entry.killed = true;
        entry.finish({ outcome: 'failed', exitCode: null, signal: 'SIGTERM', error: 'killed by SIGTERM' });
        return finished;
      },
    };
  }

  recoverOutput() {
    const none = { text: '', totalBytes: 0, truncated: false };
    return { stdout: none, stderr: none };
  }

  removeSpool(): void {}

  prepare(): void {}

  discardPrepared(): void {}

  killOrphans(): number {
    return 0;
  }
}
