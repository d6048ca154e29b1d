/**
 * When a task fires: pure functions of (schedule, time), so that every rule can be tested
 * with fixed dates. Three kinds cover what cron, systemd timers and `at` users expect:
 *
 * - `once`: at one instant (the spec's delay task, `--at`).
 * - `interval`: every `everyMs` on a fixed grid, first + k * every, so runs never drift
 *   however long each takes and a restart resumes the same grid (the spec's cron task,
 *   `--every`), optionally ending at `end`.
 * - `calendar`: a cron expression in a time zone (`--cron`), optionally between `start` and
 *   `end`. Daylight-saving transitions follow Vixie cron (as croner implements it): a job at
 *   a fixed time (one value in each of second, minute and hour, e.g. `30 2 * * *`) that falls
 *   in the hour skipped in spring runs once, right after the gap, and in the hour repeated in
 *   autumn runs once, at its first occurrence; a job with a wildcard, step, range or list in
 *   those fields (e.g. `*\/15 * * * *`) skips the times that do not exist and runs at both
 *   occurrences of a repeated time, since both are real instants.
 *
 * Fires missed while the daemon was busy or down collapse into the one run happening now:
 * the next fire is always the first one after the current time.
 */
import { Cron } from 'croner';
import { SchedulerError } from './errors.js';
import { unitHash } from './unit-hash.js';

export type Schedule = (
  | { kind: 'once'; at: number }
  | { kind: 'interval'; everyMs: number; first: number; end: number | null }
  | { kind: 'calendar'; expression: string; timezone: string; start: number | null; end: number | null }
) & {
  /**
   * Each fire is moved later by up to `ms`, by an amount derived from `seed` (the task's id)
   * and the fire's time: spread, but the same after a restart. Less than the time between
   * two fires, so fires keep their order.
   */
  jitter?: { ms: number; seed: string };
};

/** Whether the schedule fires more than once. */
export function isRecurring(schedule: Schedule): boolean {
  return schedule.kind !== 'once';
}

/** The first fire time strictly after `after` (jitter included), or null when the schedule has no more. */
export function nextFireAfter(schedule: Schedule, after: number): number | null {
  const { jitter } = schedule;
  if (!jitter) return nominalFireAfter(schedule, after);
  // A fire whose own time is at most after - ms is due by `after` at the latest; the first
  // after that is due after `after`, or else the one following it is (fires are >= ms apart).
  const first = nominalFireAfter(schedule, after - jitter.ms);
  if (first === null) return null;
  const due = first + jitterOf(jitter, first);
  if (due > after) return due;
  const second = nominalFireAfter(schedule, first);
  return second === null ? null : second + jitterOf(jitter, second);
}

/** How much later the fire at `at` is due. */
function jitterOf(jitter: { ms: number; seed: string }, at: number): number {
  return Math.floor(jitter.ms * unitHash(`${jitter.seed}\n${at}`));
}

/** The shortest time between two of the next `count` fires after `after` (Infinity for fewer than two). */
export function shortestGap(schedule: Schedule, after: number, count: number): number {
  const { jitter: _ignored, ...plain } = schedule;
  const fires = nextFires(plain as Schedule, after, count);
  let gap = Infinity;
  for (let index = 1; index < fires.length; index++) gap = Math.min(gap, fires[index]! - fires[index - 1]!);
  return gap;
}

/** The first fire time, without jitter, strictly after `after`. */
function nominalFireAfter(schedule: Schedule, after: number): number | null {
  switch (schedule.kind) {
    case 'once':
      return schedule.at > after ? schedule.at : null;
    case 'interval': {
      const { first, everyMs, end } = schedule;
      const next = after < first ? first : first + (Math.floor((after - first) / everyMs) + 1) * everyMs;
      return end !== null && next > end ? null : next;
    }
    case 'calendar': {
      const { start, end } = schedule;
      // A fire exactly at `start` counts: look from just before it.
      const from = start !== null && start - 1 > after ? start - 1 : after;
      const next = cronFor(schedule.expression, schedule.timezone).nextRun(new Date(from));
      if (!next) return null;
      const at = next.getTime();
      return end !== null && at > end ? null : at;
    }
  }
}

/** The next `count` fire times strictly after `after` (fewer when the schedule ends). */
export function nextFires(schedule: Schedule, after: number, count: number): number[] {
  const fires: number[] = [];
  for (let at = nextFireAfter(schedule, after); at !== null && fires.length < count; at = nextFireAfter(schedule, at)) {
    fires.push(at);
  }
  return fires;
}

/** The next `count` fire times of a task whose next fire is `nextRunAt`: none when it has none (final, or stopping). */
export function upcomingFires(schedule: Schedule, nextRunAt: number | null, count: number): number[] {
  if (nextRunAt === null || count <= 0) return [];
  return [nextRunAt, ...nextFires(schedule, nextRunAt, count - 1)];
}

/** Checks a cron expression and a time zone; throws invalid_request naming `field`. */
export function checkCronExpression(expression: string, timezone: string, field: string): void {
  try {
    cronFor(expression, timezone);
  } catch (error) {
    throw new SchedulerError(
      'invalid_request',
      `${field}: "${expression}" is not a cron expression (${(error as Error).message}). ` +
        'Write 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a nickname such as @hourly',
    );
  }
}

/** Parsed expressions, by expression and zone: parsing is the costly part of a cron lookup. */
const parsed = new Map<string, Cron>();
const maxParsed = 1000;

function cronFor(expression: string, timezone: string): Cron {
  const key = `${timezone} ${expression}`;
  let cron = parsed.get(key);
  if (!cron) {
    // paused: the object only computes times, it never runs anything itself.
    cron = new Cron(expression, { timezone, paused: true });
    if (parsed.size >= maxParsed) parsed.delete(parsed.keys().next().value!);
    parsed.set(key, cron);
  }
  return cron;
}
