/**
 * The pure parts of watching across nodes: the cursor in event ids (written and read back),
 * the output not yet told from a run's head and tail windows, and the events rebuilt from a
 * task as told and as it is now.
 */
import { describe, expect, it } from 'vitest';
import type { CapturedOutput, Run } from '../../src/core/task.js';
import { asTold, catchUpEvents } from '../../src/protocol/events.js';
import { encodeCursor, parseCursor } from '../../src/server/events/event-cursor.js';
import { unsentOutput } from '../../src/server/events/output-windows.js';
import { executing, makeTask, T0 } from '../support/task-fixtures.js';

const output = (text: string, more: Partial<CapturedOutput> = {}): CapturedOutput => ({ text, totalBytes: Buffer.byteLength(text), droppedBytes: 0, droppedAt: 0, ...more });
const pieces = (found: ReturnType<typeof unsentOutput>) => found.map((piece) => [piece.offset, piece.bytes.toString()]);

function run(number: number, more: Partial<Run> = {}): Run {
  return {
    run: number, scheduledAt: T0, attempt: 1, startedAt: T0 + 10, finishedAt: null, outcome: 'running', exitCode: null, signal: null, error: null,
    stdout: output(''), stderr: output(''), outputCap: 1024, ...more,
  };
}

describe('the cursor of an event id', () => {
  it('says the version, status, last run and output told of each run in progress, and reads back the same', () => {
    const task = makeTask('cron', executing(3, null, { parallel: [{ run: 4, fire: T0 }] }), { version: 7, lastRun: 4 });
    const text = encodeCursor(asTold(task), (number) => (number === 3 ? { stdout: 120, stderr: 0 } : undefined));
    expect(text).toBe('7.Executing.4.3-120-0_4-0-0');
    expect(parseCursor(text)).toEqual({
      version: 7, status: 'Executing', lastRun: 4, inProgress: [3, 4],
      sent: new Map([[3, { stdout: 120, stderr: 0 }], [4, { stdout: 0, stderr: 0 }]]),
    });
    expect(parseCursor('2.Executed.1.')).toMatchObject({ version: 2, status: 'Executed', lastRun: 1, inProgress: [] });
  });

  it('is not read from what is not one', () => {
    for (const text of ['', '7', '7.Executing', '7.Sleeping.1.', '7.Executing.1.3-1', 'x.Executing.1.']) expect(parseCursor(text), text).toBeUndefined();
  });
});

describe('the output not yet told', () => {
  it('is what follows the bytes told, when everything was kept', () => {
    expect(pieces(unsentOutput(output('one\ntwo\n'), 4))).toEqual([[4, 'two\n']]);
    expect(pieces(unsentOutput(output('one\n'), 4))).toEqual([]);
  });

  it('skips the bytes dropped between the head and the tail, with a jump in offset', () => {
    // 10 bytes written: the head kept 3 (abc), 4 dropped, the tail kept 3 (hij).
    const capped = output('abchij', { totalBytes: 10, droppedBytes: 4, droppedAt: 3 });
    expect(pieces(unsentOutput(capped, 0))).toEqual([[0, 'abc'], [7, 'hij']]);
    expect(pieces(unsentOutput(capped, 2))).toEqual([[2, 'c'], [7, 'hij']]);
    expect(pieces(unsentOutput(capped, 5))).toEqual([[7, 'hij']]);
    expect(pieces(unsentOutput(capped, 8))).toEqual([[8, 'ij']]);
    expect(pieces(unsentOutput(capped, 10))).toEqual([]);
  });
});

describe('the events of changes made elsewhere', () => {
  it('tell the end of the run in progress, the status, then the start of the next run', () => {
    const before = makeTask('cron', executing(1, T0 + 20_000), { version: 3, lastRun: 1 });
    const after = makeTask('cron', executing(2, T0 + 30_000), { version: 5, lastRun: 2 });
    const runs = [run(1, { outcome: 'succeeded', exitCode: 0, finishedAt: T0 + 500, stdout: output('hi\n') }), run(2)];
    const events = catchUpEvents(after, asTold(before), runs);
    expect(events.map((event) => event.name)).toEqual(['run-finished', 'status', 'run-started']);
    expect(events[0]!.data).toMatchObject({ run: 1, outcome: 'succeeded', stdoutBytes: 3 });
    expect(events[1]!.data).toMatchObject({ status: 'Executing', previousStatus: 'Executing', version: 5 });
    expect(events[2]!.data).toMatchObject({ run: 2 });
  });

  it('tell a run that started and ended between the two versions, and a skipped tick', () => {
    const before = makeTask('cron', { status: 'ToBeExecuted', nextRunAt: T0 }, { version: 1, lastRun: 0 });
    const after = makeTask('cron', { status: 'Executed' }, { version: 4, lastRun: 2 });
    const runs = [run(1, { outcome: 'failed', exitCode: 2, finishedAt: T0 + 900 }), run(2, { outcome: 'skipped', error: 'the previous run was still executing' })];
    expect(catchUpEvents(after, asTold(before), runs).map((event) => event.name)).toEqual(['run-started', 'run-finished', 'run-skipped', 'status']);
  });
});
