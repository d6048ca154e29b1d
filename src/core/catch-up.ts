/**
 * What happens to fires that passed while nothing could run them (the daemon was down, or
 * the task was busy far beyond its time). Pure: a function of the schedule, the policy, the
 * fire that is due and the time now.
 *
 * - `once` (the default): one run, for the latest missed fire; the others are recorded as missed.
 * - `none`: no run; every missed fire is recorded as missed, and the schedule goes on.
 * - `all`: every missed fire runs, one after another, at most the last `maxCatchUpRuns`.
 * A window bounds all three: fires older than `now - window` are never run.
 */
import { nextFireAfter, type Schedule } from './schedule.js';

export const catchUpModes = ['none', 'once', 'all'] as const;
export type CatchUpMode = (typeof catchUpModes)[number];

export interface CatchUpPolicy {
  mode: CatchUpMode;
  /** Fires older than this are never run; null for no bound. */
  windowMs: number | null;
}

/** A fire this late was missed, rather than served a little late by a busy daemon. */
export const missedAfterMs = 1000;
/** Under `all`, at most this many missed fires run, the most recent ones. */
export const maxCatchUpRuns = 100;
/** Missed fires are counted up to this many (a task every 100ms down for a year would be too many to count). */
const maxCounted = 10_000;

/** What to do with a due fire and those that passed after it. */
export interface CatchUpPlan {
  /** The fire to run now; null for none. */
  run: number | null;
  /** The passed fires that will not run, to record: how many, the first and the last, and why. */
  missed: { count: number; first: number; last: number; reason: string } | null;
  /** Under `all`: the next passed fire, to run as soon as this run ends. */
  backlog: number | null;
}

/** The plan for the fire `due`, late or not, at `now`. */
export function planCatchUp(schedule: Schedule, policy: CatchUpPolicy, due: number, now: number): CatchUpPlan {
  if (now - due <= missedAfterMs) return { run: due, missed: null, backlog: null };
  const passed = passedFires(schedule, due, now);
  const oldest = policy.windowMs === null ? -Infinity : now - policy.windowMs;
  const eligible = passed.fires.filter((fire) => fire >= oldest);
  const ranked = policy.mode === 'none' ? [] : policy.mode === 'once' ? eligible.slice(-1) : eligible.slice(-maxCatchUpRuns);
  const run = ranked[0] ?? null;
  const notRun = passed.count - ranked.length;
  const missed =
    notRun === 0
      ? null
      : {
          count: notRun,
          first: passed.fires[0]!,
          last: lastNotRun(passed.fires, ranked),
          reason: missedReason(notRun, passed.counted, policy, run),
        };
  return { run, missed, backlog: ranked[1] ?? null };
}

/**
 * The fires from `due` up to `now`, and how many there were. When there are too many to
 * list, the list holds the first ones and then the last `maxCatchUpRuns`, found again from
 * just before `now` (at the pace of the first ones): the latest are the ones that may run.
 */
function passedFires(schedule: Schedule, due: number, now: number): { fires: number[]; count: number; counted: boolean } {
  const fires = [due];
  for (let at = nextFireAfter(schedule, due); at !== null && at <= now; at = nextFireAfter(schedule, at)) {
    if (fires.length >= maxCounted) return { ...withLatest(schedule, fires, now), counted: false };
    fires.push(at);
  }
  return { fires, count: fires.length, counted: true };
}

/** `fires` (too many to go on) followed by the latest fires up to `now`. */
function withLatest(schedule: Schedule, fires: number[], now: number): { fires: number[]; count: number } {
  const pace = (fires.at(-1)! - fires[0]!) / (fires.length - 1);
  const latest: number[] = [];
  let from = Math.max(fires.at(-1)!, now - pace * maxCatchUpRuns * 2);
  for (let at = nextFireAfter(schedule, from); at !== null && at <= now; at = nextFireAfter(schedule, at)) {
    latest.push(at);
    if (latest.length > maxCatchUpRuns) latest.shift();
    from = at;
  }
  // An estimate: the fires between the listed ones were not counted one by one.
  const count = fires.length + Math.round((now - fires.at(-1)!) / pace);
  return { fires: [...fires, ...latest], count: Math.max(count, fires.length + latest.length) };
}

function lastNotRun(fires: number[], ranked: number[]): number {
  const running = new Set(ranked);
  for (let index = fires.length - 1; index >= 0; index--) if (!running.has(fires[index]!)) return fires[index]!;
  return fires[0]!;
}

function missedReason(count: number, counted: boolean, policy: CatchUpPolicy, run: number | null): string {
  const fires = `${counted ? count : `${count}+`} fire${count === 1 ? '' : 's'}`;
  const why = `passed while the task could not run (the daemon was not running, or was busy)`;
  switch (policy.mode) {
    case 'none':
      return `${fires} ${why}; catch-up none: not run`;
    case 'once':
      return run === null ? `${fires} ${why}; all older than the catch-up window: not run` : `${fires} ${why}; catch-up once: the latest runs instead`;
    case 'all':
      return run === null ? `${fires} ${why}; all older than the catch-up window: not run` : `${fires} ${why}, beyond the catch-up bound or window: not run`;
  }
}
