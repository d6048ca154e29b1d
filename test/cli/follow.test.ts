/** get --watch's follower against a scripted event stream: what it prints when events were missed. */
import { describe, expect, it } from 'vitest';
import { follow } from '../../src/cli/commands/get.js';
import type { CliIo } from '../../src/cli/context.js';
import type { ReceivedEvent } from '../../src/client/event-stream.js';
import type { TaskJson } from '../../src/protocol/schemas.js';

/** A task as the API gives it, with `results` of the given runs. */
function task(status: string, version: number, results: Array<{ run: number; outcome: string; exitCode?: number | null }>): TaskJson {
  return {
    id: 'job', type: 'cron', time: '1s', script: 'true', lang: 'bash', timeout: null, timezone: 'UTC', start: null, end: null,
    status, lastStatusUpdated: '2026-11-25T10:00:00.000Z', version, nextRunAt: null, createdAt: '2026-11-25T10:00:00.000Z',
    stopRequested: false, jitter: null, overlap: 'skip', maxParallel: null, retries: 0, retryDelay: null, retryMaxDelay: null,
    catchUp: 'once', catchUpWindow: null, retryOn: null, pauseRequested: false, env: {}, cwd: null, user: null, queue: 'default',
    sandbox: false, network: false, limits: { cpuSeconds: null, memoryBytes: null, processes: null, openFiles: null, outputBytes: null },
    results: results.map(({ run, outcome, exitCode = outcome === 'running' ? null : 0 }) => ({
      run, scheduledAt: '2026-11-25T10:00:01.000Z', attempt: 1, startedAt: '2026-11-25T10:00:01.000Z',
      finishedAt: outcome === 'running' ? null : '2026-11-25T10:00:02.000Z', outcome, exitCode, signal: null, error: null,
      limit: null, waitedMs: null, waiting: false, stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0,
      stdoutTruncated: false, stderrTruncated: false, stdoutDroppedBytes: 0, stderrDroppedBytes: 0, stdoutDroppedAt: 0, stderrDroppedAt: 0, outputCap: 1024,
    })),
  } as TaskJson;
}

/** Follows `first` through `events`, the final read answering `last`; returns what it printed. */
async function printed(first: TaskJson, events: ReceivedEvent[], last: TaskJson): Promise<string[]> {
  const lines: string[] = [];
  const io: CliIo = { out: (text) => void lines.push(text), err: () => undefined, write: () => undefined, writeErr: () => undefined, stderrIsTerminal: false, columns: 80 };
  const client = {
    get: async () => last,
    events: async function* () {
      yield* events;
    },
  };
  // A last run that did not succeed ends the follower with an error (exit 8): the lines are what matters here.
  await follow(client as never, first, io, false).catch(() => undefined);
  return lines.slice(1).map((line) => line.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}/, 'T  '));
}

const snapshot = (of: TaskJson, runs: number[]): ReceivedEvent => ({ name: 'snapshot', id: undefined, data: { task: of, run: runs[0] ?? null, runs } }) as ReceivedEvent;

describe('follow (get --watch)', () => {
  it("prints, stamped, the end of a run the stream missed while it was resumed after a gap", async () => {
    const first = task('Executing', 3, [{ run: 1, outcome: 'running' }]);
    const last = task('Stopped', 6, [{ run: 1, outcome: 'succeeded' }]);
    const lines = await printed(first, [
      snapshot(first, [1]),
      { name: 'pruned', id: undefined, data: { reason: 'the events were pruned' } } as ReceivedEvent,
      snapshot(last, []),
    ], last);
    expect(lines).toEqual([
      'T  (resumed the stream, but some events were missed: the events were pruned)',
      'T  status Executing -> Stopped',
      'T  run 1 succeeded, exit 0',
      'task job is Stopped; nothing more will happen',
    ]);
  });

  it('does not print again the end of a run that ended before the stream began, nor of one it saw end', async () => {
    const first = task('Executing', 3, [{ run: 1, outcome: 'running' }]);
    const between = task('WaitForNextExecution', 4, [{ run: 1, outcome: 'succeeded' }]);
    const last = task('Stopped', 7, [{ run: 1, outcome: 'succeeded' }, { run: 2, outcome: 'failed', exitCode: 3 }]);
    const lines = await printed(first, [
      snapshot(between, []),
      { name: 'run-started', id: '1-1', data: { run: 2, scheduledAt: '', startedAt: '', attempt: 1 } } as ReceivedEvent,
      { name: 'run-finished', id: '1-2', data: { run: 2, outcome: 'failed', exitCode: 3, signal: null, error: null, finishedAt: '', stdoutBytes: 0, stderrBytes: 0 } } as ReceivedEvent,
      { name: 'status', id: '1-3', data: { ...last, status: 'Stopped', previousStatus: 'Executing', version: 7 } } as unknown as ReceivedEvent,
    ], last);
    expect(lines.filter((line) => line.includes('run 1'))).toEqual([]);
    expect(lines.filter((line) => line.includes('run 2'))).toEqual(['T  run 2 started', 'T  run 2 failed, exit 3']);
  });
});
