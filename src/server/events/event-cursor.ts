/**
 * Event ids that any node can resume from, when several nodes share the store. An id is
 * `EPOCH-SEQ.CURSOR`: EPOCH-SEQ as on a single daemon (the daemon that gave it out resumes
 * from its retained events, exactly), and CURSOR, where the stream stood after the event in
 * terms the database knows: the task's version (the number every change of a task raises,
 * which the store's `events` rows carry), its status, its last run, and for each run in
 * progress the bytes of each stream told so far. Another node (or the same one after a
 * restart) reads the task and its runs and sends what came after: the rest of the output of
 * those runs, the events rebuilt from the task as told and as it is, the output of runs
 * started since. For example `5f1c09aa-43.7.Executing.3.3-120-0`: version 7, Executing, last
 * run 3, run 3 with 120 bytes of stdout and none of stderr told.
 */
import { taskStatuses, type TaskStatus } from '../../core/task.js';
import type { TaskAsTold } from '../../protocol/events.js';

/** Bytes of each stream of a run told so far. */
export interface StreamsTold {
  stdout: number;
  stderr: number;
}

/** Where a stream stood: the task as told, and the output of its runs in progress as told. */
export interface StreamCursor extends TaskAsTold {
  sent: Map<number, StreamsTold>;
}

/** The cursor part of an id. */
export function encodeCursor(told: TaskAsTold, sent: (run: number) => StreamsTold | undefined): string {
  const runs = told.inProgress.map((run) => {
    const bytes = sent(run);
    return `${run}-${bytes?.stdout ?? 0}-${bytes?.stderr ?? 0}`;
  });
  return `${told.version}.${told.status}.${told.lastRun}.${runs.join('_')}`;
}

const cursorPattern = /^(\d{1,10})\.([A-Za-z]+)\.(\d{1,10})\.((?:\d{1,10}-\d{1,15}-\d{1,15})(?:_\d{1,10}-\d{1,15}-\d{1,15})*)?$/;

/** The cursor of an id's cursor part; undefined when it is not one. */
export function parseCursor(text: string): StreamCursor | undefined {
  const match = cursorPattern.exec(text);
  if (!match || !(taskStatuses as readonly string[]).includes(match[2]!)) return undefined;
  const sent = new Map<number, StreamsTold>();
  for (const part of match[4] ? match[4].split('_') : []) {
    const [run, stdout, stderr] = part.split('-').map(Number) as [number, number, number];
    sent.set(run, { stdout, stderr });
  }
  return { version: Number(match[1]), status: match[2] as TaskStatus, lastRun: Number(match[3]), inProgress: [...sent.keys()], sent };
}
