/**
 * A RunLauncher whose runs end only when a test says so, for server tests that need a run
 * to stay in progress (a cron task stopped while it executes). The real ProcessRunner is
 * used everywhere else.
 */
import { noOutput, type CapturedOutput, type OutputStream } from '../../src/core/task.js';
import type { RunResult } from '../../src/core/transition.js';
import type { RunLauncher, RunningProcess, RunOutputListener, RunSpec } from '../../src/runner/run-launcher.js';

/** One run the launcher was asked to start. */
export interface ManualRun {
  spec: RunSpec;
  /** True once the engine asked for the run to be killed. */
  killed: boolean;
  /** Ends the run the way the runner would report it: by default, with what `write` was given, else one line on stdout. */
  finish(result?: Partial<RunResult>): void;
  /** The script writes `text` to `stream`: handed to the engine's listener at the stream's running offset. */
  write(stream: OutputStream, text: string): void;
}

/** Output of `text`, all of it kept. */
function output(text: string): CapturedOutput {
  return { text, totalBytes: Buffer.byteLength(text), droppedBytes: 0, droppedAt: 0 };
}

export class ManualLauncher implements RunLauncher {
  readonly runs: ManualRun[] = [];

  start(spec: RunSpec): RunningProcess {
    let resolve!: (result: RunResult) => void;
    const finished = new Promise<RunResult>((settle) => {
      resolve = settle;
    });
    const startedAt = Date.now();
    const written: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
    let listener: RunOutputListener | undefined;
    const captured = (stream: OutputStream): CapturedOutput => {
      const bytes = Buffer.concat(written[stream]);
      return { text: bytes.toString('utf8'), totalBytes: bytes.length, droppedBytes: 0, droppedAt: 0 };
    };
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
          ...(written.stdout.length + written.stderr.length > 0
            ? { stdout: captured('stdout'), stderr: captured('stderr') }
            : { stdout: output(`${spec.taskId} run ${spec.run}\n`), stderr: noOutput }),
          outputCap: 4096,
          ...result,
        }),
      write: (stream, text) => {
        const bytes = Buffer.from(text);
        const offset = written[stream].reduce((sum, chunk) => sum + chunk.length, 0);
        written[stream].push(bytes);
        listener?.(stream, offset, bytes);
      },
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
      listen: (receive) => {
        listener = receive;
      },
      outputSoFar: () => ({ stdout: captured('stdout'), stderr: captured('stderr') }),
    };
  }

  async recoverOutput(): Promise<{ stdout: CapturedOutput; stderr: CapturedOutput }> {
    return { stdout: noOutput, stderr: noOutput };
  }

  removeSpool(): void {}

  async prepare(): Promise<void> {}

  discardPrepared(): void {}

  async killOrphans(): Promise<number> {
    return 0;
  }
}
