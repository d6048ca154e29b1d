/**
 * planCatchUp: what happens to a fire that is due late and to the fires that passed after
 * it, under each catch-up rule (none, once, all) and a window, for interval, calendar and
 * one-time schedules. Every expected instant is written out from T0 (2026-11-25T10:00:00Z).
 */
import { describe, expect, it } from 'vitest';
import { maxCatchUpRuns, missedAfterMs, planCatchUp, type CatchUpMode, type CatchUpPlan, type CatchUpPolicy } from '../../src/core/catch-up.js';
import type { Schedule } from '../../src/core/schedule.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
/** The interval of the interval schedules below. */
const I = 10 * SEC;

/** Every 10s from T0 + 10s, without an end unless given. */
const every10s = (end: number | null = null): Schedule => ({ kind: 'interval', everyMs: I, first: T0 + I, end });
/** Every 10s on the clock (:00, :10, ...), in UTC. */
const calendar10s = (end: number | null = null): Schedule => ({ kind: 'calendar', expression: '*/10 * * * * *', timezone: 'UTC', start: null, end });
const onceAt = (at: number): Schedule => ({ kind: 'once', at });

const policy = (mode: CatchUpMode, windowMs: number | null = null): CatchUpPolicy => ({ mode, windowMs });
const modes: CatchUpMode[] = ['none', 'once', 'all'];

const why = 'passed while the task could not run (the daemon was not running, or was busy)';
const reasons = {
  none: (fires: string) => `${fires} ${why}; catch-up none: not run`,
  onceLatest: (fires: string) => `${fires} ${why}; catch-up once: the latest runs instead`,
  allOutOfWindow: (fires: string) => `${fires} ${why}; all older than the catch-up window: not run`,
  allBeyond: (fires: string) => `${fires} ${why}, beyond the catch-up bound or window: not run`,
};

/** A plan's instants as offsets from T0 in seconds, so that a failure reads easily. */
function inSeconds(plan: CatchUpPlan) {
  const s = (at: number | null) => (at === null ? null : (at - T0) / SEC);
  return {
    run: s(plan.run),
    backlog: s(plan.backlog),
    missed: plan.missed && { count: plan.missed.count, first: s(plan.missed.first), last: s(plan.missed.last), reason: plan.missed.reason },
  };
}

/**
 * Plays a catch-up under `all` the way the state machine does: the run of `plan.run`, then
 * the backlog fire planned again as the next due fire, each at `now` (runs take no time).
 * Returns every fire that ran and every missed record, in order.
 */
function playAll(schedule: Schedule, catchUp: CatchUpPolicy, due: number, now: number) {
  const ran: number[] = [];
  const missed: Array<NonNullable<CatchUpPlan['missed']>> = [];
  let next: number | null = due;
  for (let guard = 0; next !== null; guard++) {
    if (guard > 10_000) throw new Error('the backlog never ends');
    const plan = planCatchUp(schedule, catchUp, next, now);
    if (plan.missed) missed.push(plan.missed);
    if (plan.run !== null) ran.push(plan.run);
    next = plan.backlog;
  }
  return { ran, missed };
}

describe('planCatchUp: a fire on time', () => {
  it('the constants are those documented: late beyond 1s, at most 100 catch-up runs', () => {
    expect(missedAfterMs).toBe(1000);
    expect(maxCatchUpRuns).toBe(100);
  });

  it.each(modes)('%s: a fire served when due runs, nothing missed, nothing queued', (mode) => {
    expect(planCatchUp(every10s(), policy(mode), T0 + I, T0 + I)).toEqual({ run: T0 + I, missed: null, backlog: null });
  });

  it.each(modes)('%s: a fire exactly 1s late is still on time', (mode) => {
    expect(planCatchUp(every10s(), policy(mode), T0 + I, T0 + I + missedAfterMs)).toEqual({ run: T0 + I, missed: null, backlog: null });
    expect(planCatchUp(calendar10s(), policy(mode), T0 + I, T0 + I + missedAfterMs)).toEqual({ run: T0 + I, missed: null, backlog: null });
    expect(planCatchUp(onceAt(T0 + I), policy(mode), T0 + I, T0 + I + missedAfterMs)).toEqual({ run: T0 + I, missed: null, backlog: null });
  });

  it.each(modes)('%s: on time, a window (longer than the lateness) changes nothing', (mode) => {
    expect(planCatchUp(every10s(), policy(mode, 5 * SEC), T0 + I, T0 + I + 700)).toEqual({ run: T0 + I, missed: null, backlog: null });
  });

  it('1001ms late with no other fire passed: once and all run it, nothing missed; none records it missed', () => {
    const now = T0 + I + missedAfterMs + 1;
    expect(planCatchUp(every10s(), policy('once'), T0 + I, now)).toEqual({ run: T0 + I, missed: null, backlog: null });
    expect(planCatchUp(every10s(), policy('all'), T0 + I, now)).toEqual({ run: T0 + I, missed: null, backlog: null });
    expect(planCatchUp(every10s(), policy('none'), T0 + I, now)).toEqual({
      run: null,
      missed: { count: 1, first: T0 + I, last: T0 + I, reason: reasons.none('1 fire') },
      backlog: null,
    });
  });
});

describe('planCatchUp: late, after many fires passed (interval every 10s, due at +10s, now +65.5s: fires +10s .. +60s, 6 of them)', () => {
  const due = T0 + I;
  const now = T0 + 65_500;

  it('once: the latest passed fire runs; the 5 before it are one missed record', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('once'), due, now))).toEqual({
      run: 60,
      backlog: null,
      missed: { count: 5, first: 10, last: 50, reason: reasons.onceLatest('5 fires') },
    });
  });

  it('none: nothing runs; all 6 are one missed record', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('none'), due, now))).toEqual({
      run: null,
      backlog: null,
      missed: { count: 6, first: 10, last: 60, reason: reasons.none('6 fires') },
    });
  });

  it('all: the oldest runs now, the next is the backlog, nothing missed', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('all'), due, now))).toEqual({ run: 10, backlog: 20, missed: null });
  });

  it('all, played out: every passed fire runs once, in order, and nothing is recorded missed', () => {
    const { ran, missed } = playAll(every10s(), policy('all'), due, now);
    expect(ran.map((at) => (at - T0) / SEC)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(missed).toEqual([]);
  });

  it('a fire exactly at now counts as passed', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('once'), due, T0 + 6 * I))).toMatchObject({ run: 60, missed: { count: 5, last: 50 } });
    // 1ms earlier, +60s has not come yet.
    expect(inSeconds(planCatchUp(every10s(), policy('once'), due, T0 + 6 * I - 1))).toMatchObject({ run: 50, missed: { count: 4, last: 40 } });
  });

  it('the first missed fire is the due one whatever the rule, and the count and texts agree', () => {
    for (const mode of modes) {
      const plan = planCatchUp(every10s(), policy(mode), due, now);
      if (plan.missed === null) continue;
      expect(plan.missed.first, mode).toBe(due);
      expect(plan.missed.reason, mode).toMatch(new RegExp(`^${plan.missed.count} fires? passed while the task could not run`));
    }
  });
});

describe('planCatchUp: a window', () => {
  const due = T0 + I;
  const now = T0 + 65_500; // fires +10s .. +60s passed

  it('once: fires outside the window are not run, but the latest one inside it is', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('once', 25 * SEC), due, now))).toEqual({
      run: 60,
      backlog: null,
      missed: { count: 5, first: 10, last: 50, reason: reasons.onceLatest('5 fires') },
    });
  });

  it('once: a window that excludes every passed fire runs none and says why', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('once', 3 * SEC), due, now))).toEqual({
      run: null,
      backlog: null,
      missed: { count: 6, first: 10, last: 60, reason: reasons.allOutOfWindow('6 fires') },
    });
  });

  it('all: only the fires inside the window run; those before it are one missed record', () => {
    // now - 25s = +40.5s: +50s and +60s are inside.
    expect(inSeconds(planCatchUp(every10s(), policy('all', 25 * SEC), due, now))).toEqual({
      run: 50,
      backlog: 60,
      missed: { count: 4, first: 10, last: 40, reason: reasons.allBeyond('4 fires') },
    });
  });

  it('all: a fire exactly at now - window is inside it', () => {
    // now - 25.5s = +40s exactly.
    expect(inSeconds(planCatchUp(every10s(), policy('all', 25_500), due, now))).toMatchObject({ run: 40, backlog: 50, missed: { count: 3, last: 30 } });
    expect(inSeconds(planCatchUp(every10s(), policy('all', 25_499), due, now))).toMatchObject({ run: 50, backlog: 60, missed: { count: 4, last: 40 } });
  });

  it('all: a window that excludes every passed fire runs none and says why', () => {
    expect(inSeconds(planCatchUp(every10s(), policy('all', 3 * SEC), due, now))).toEqual({
      run: null,
      backlog: null,
      missed: { count: 6, first: 10, last: 60, reason: reasons.allOutOfWindow('6 fires') },
    });
  });

  it('none: a window changes nothing (nothing runs anyway)', () => {
    expect(planCatchUp(every10s(), policy('none', 25 * SEC), due, now)).toEqual(planCatchUp(every10s(), policy('none'), due, now));
  });

  it('a window wider than the downtime excludes nothing', () => {
    for (const mode of modes) {
      expect(planCatchUp(every10s(), policy(mode, HOUR), due, now), mode).toEqual(planCatchUp(every10s(), policy(mode), due, now));
    }
  });
});

describe('planCatchUp: all is bounded to the most recent 100', () => {
  const due = T0 + I;

  it('150 passed fires: the last 100 run (the 51st first), the 50 oldest are one missed record', () => {
    const now = due + 149 * I + 500;
    const plan = planCatchUp(every10s(), policy('all'), due, now);
    expect(plan).toEqual({
      run: due + 50 * I,
      backlog: due + 51 * I,
      missed: { count: 50, first: due, last: due + 49 * I, reason: reasons.allBeyond('50 fires') },
    });
    const { ran, missed } = playAll(every10s(), policy('all'), due, now);
    expect(ran).toHaveLength(maxCatchUpRuns);
    expect(ran[0]).toBe(due + 50 * I);
    expect(ran.at(-1)).toBe(due + 149 * I);
    expect(new Set(ran).size).toBe(ran.length);
    // Only the first plan records missed fires; the backlog runs every one of the rest.
    expect(missed.map((m) => m.count)).toEqual([50]);
  });

  it('exactly 100 passed fires: all of them run, nothing missed', () => {
    const now = due + 99 * I + 500;
    expect(planCatchUp(every10s(), policy('all'), due, now)).toEqual({ run: due, backlog: due + I, missed: null });
    expect(playAll(every10s(), policy('all'), due, now).ran).toHaveLength(100);
  });

  it('101 passed fires: the oldest one is missed, said in the singular', () => {
    const now = due + 100 * I + 500;
    expect(planCatchUp(every10s(), policy('all'), due, now)).toEqual({
      run: due + I,
      backlog: due + 2 * I,
      missed: { count: 1, first: due, last: due, reason: reasons.allBeyond('1 fire') },
    });
  });

  it('once and none are not bounded by it: once runs the latest of 150, none records all 150', () => {
    const now = due + 149 * I + 500;
    expect(planCatchUp(every10s(), policy('once'), due, now)).toMatchObject({ run: due + 149 * I, missed: { count: 149 } });
    expect(planCatchUp(every10s(), policy('none'), due, now)).toMatchObject({ run: null, missed: { count: 150, last: due + 149 * I } });
  });
});

describe('planCatchUp: very many passed fires (more than are counted)', () => {
  // Every 100ms (the shortest interval accepted), down for 2000s: 20,001 fires passed.
  const fast: Schedule = { kind: 'interval', everyMs: 100, first: T0, end: null };
  const now = T0 + 2_000 * SEC;

  it('once: the latest passed fire still runs, and the reason gives the count (or a lower bound of it)', () => {
    const plan = planCatchUp(fast, policy('once'), T0, now);
    expect(plan.run).toBe(now);
    expect(plan.backlog).toBeNull();
    expect(plan.missed).toMatchObject({ first: T0, last: now - 100 });
    expect(plan.missed!.reason).toMatch(/^(20000|\d+\+) fires passed while the task could not run .*catch-up once: the latest runs instead$/);
  });

  it('once with a window of 1 minute: the latest fire is inside it and runs', () => {
    expect(planCatchUp(fast, policy('once', MIN), T0, now).run).toBe(now);
  });

  it('all: the most recent 100 run', () => {
    const plan = planCatchUp(fast, policy('all'), T0, now);
    expect(plan.run).toBe(now - 99 * 100);
    expect(plan.backlog).toBe(now - 98 * 100);
  });

  it('none: nothing runs, and the reason gives the count (or a lower bound of it)', () => {
    const plan = planCatchUp(fast, policy('none'), T0, now);
    expect(plan.run).toBeNull();
    expect(plan.missed!.reason).toMatch(/^(20001|\d+\+) fires passed .*catch-up none: not run$/);
  });

  it('all: the 100 most recent run (each the backlog of the one before); the rest are one missed record, counted near the truth', () => {
    const plan = planCatchUp(fast, policy('all'), T0, now);
    expect(plan.run).toBe(now - 99 * 100);
    // The fires not run: the 20,001 passed less the 100 that run; an estimate, within 1%.
    expect(plan.missed).toMatchObject({ first: T0 });
    expect(Math.abs(plan.missed!.count - 19_901)).toBeLessThan(200);
    expect(plan.missed!.reason).toMatch(/^\d+\+ fires passed .*, beyond the catch-up bound or window: not run$/);
    // The next plan (from the backlog fire, more than 1s late) runs it, with nothing missed.
    const next = planCatchUp(fast, policy('all'), plan.backlog!, now);
    expect(next).toEqual({ run: now - 98 * 100, backlog: now - 97 * 100, missed: null });
  });

  it('a window sees the recent fires: all with a window of 5s runs from now - 5s; the fires before it are one missed record', () => {
    const plan = planCatchUp(fast, policy('all', 5 * SEC), T0, now);
    expect(plan.run).toBe(now - 5 * SEC);
    expect(plan.backlog).toBe(now - 5 * SEC + 100);
    expect(plan.missed).toMatchObject({ first: T0 });
    expect(Math.abs(plan.missed!.count - 19_950)).toBeLessThan(200);
  });

  it('just over the count (10,001 fires): the latest still runs under once, the last 100 under all', () => {
    const justOver = T0 + 10_000 * 100;
    expect(planCatchUp(fast, policy('once'), T0, justOver).run).toBe(justOver);
    const all = planCatchUp(fast, policy('all'), T0, justOver);
    expect(all.run).toBe(justOver - 99 * 100);
    expect(all.missed).toMatchObject({ count: 9_901, first: T0 });
  });

  it('on a calendar schedule (every second on the clock, down five hours): once runs the latest second', () => {
    const everySecond: Schedule = { kind: 'calendar', expression: '* * * * * *', timezone: 'UTC', start: null, end: null };
    const later = T0 + 5 * HOUR + 400;
    expect(planCatchUp(everySecond, policy('once'), T0 + SEC, later)).toMatchObject({ run: T0 + 5 * HOUR, backlog: null, missed: { first: T0 + SEC, last: T0 + 5 * HOUR - SEC } });
    const all = planCatchUp(everySecond, policy('all'), T0 + SEC, later);
    expect(all.run).toBe(T0 + 5 * HOUR - 99 * SEC);
    expect(all.backlog).toBe(T0 + 5 * HOUR - 98 * SEC);
  });
});

describe('planCatchUp: calendar schedules', () => {
  it('every 10s on the clock, down for ten minutes: once runs 10:10:00, 57 fires from 10:00:30 missed', () => {
    const plan = planCatchUp(calendar10s(), policy('once'), T0 + 30 * SEC, T0 + 10 * MIN + 4_500);
    expect(plan).toEqual({
      run: T0 + 10 * MIN,
      backlog: null,
      missed: { count: 57, first: T0 + 30 * SEC, last: T0 + 10 * MIN - 10 * SEC, reason: reasons.onceLatest('57 fires') },
    });
  });

  it('every 10s on the clock: none records 58, all starts with 10:00:30 and queues 10:00:40', () => {
    const now = T0 + 10 * MIN + 4_500;
    expect(planCatchUp(calendar10s(), policy('none'), T0 + 30 * SEC, now)).toMatchObject({ run: null, missed: { count: 58, first: T0 + 30 * SEC, last: T0 + 10 * MIN, reason: reasons.none('58 fires') } });
    expect(planCatchUp(calendar10s(), policy('all'), T0 + 30 * SEC, now)).toEqual({ run: T0 + 30 * SEC, backlog: T0 + 40 * SEC, missed: null });
  });

  it('hourly, down from 10:00 to 15:10: once runs 15:00; all with a 90-minute window runs 14:00 then 15:00', () => {
    const hourly: Schedule = { kind: 'calendar', expression: '0 * * * *', timezone: 'UTC', start: null, end: null };
    const now = T0 + 5 * HOUR + 10 * MIN;
    expect(planCatchUp(hourly, policy('once'), T0, now)).toEqual({
      run: T0 + 5 * HOUR,
      backlog: null,
      missed: { count: 5, first: T0, last: T0 + 4 * HOUR, reason: reasons.onceLatest('5 fires') },
    });
    expect(planCatchUp(hourly, policy('all', 90 * MIN), T0, now)).toEqual({
      run: T0 + 4 * HOUR,
      backlog: T0 + 5 * HOUR,
      missed: { count: 4, first: T0, last: T0 + 3 * HOUR, reason: reasons.allBeyond('4 fires') },
    });
  });

  it('in a time zone: daily at 09:00 Berlin (08:00Z in winter), down three days', () => {
    const daily: Schedule = { kind: 'calendar', expression: '0 9 * * *', timezone: 'Europe/Berlin', start: null, end: null };
    const first = Date.parse('2026-11-25T08:00:00Z');
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(planCatchUp(daily, policy('once'), first, now)).toEqual({
      run: Date.parse('2026-11-28T08:00:00Z'),
      backlog: null,
      missed: { count: 3, first, last: Date.parse('2026-11-27T08:00:00Z'), reason: reasons.onceLatest('3 fires') },
    });
  });

  it('with an end that passed during the downtime: only the fires up to the end count', () => {
    const plan = planCatchUp(calendar10s(T0 + MIN), policy('once'), T0 + 30 * SEC, T0 + 10 * MIN + 4_500);
    expect(plan).toEqual({
      run: T0 + MIN,
      backlog: null,
      missed: { count: 3, first: T0 + 30 * SEC, last: T0 + 50 * SEC, reason: reasons.onceLatest('3 fires') },
    });
    expect(playAll(calendar10s(T0 + MIN), policy('all'), T0 + 30 * SEC, T0 + 10 * MIN + 4_500).ran).toEqual([30, 40, 50, 60].map((s) => T0 + s * SEC));
  });
});

describe('planCatchUp: interval schedules with an end, and one-time schedules', () => {
  it('interval with an end that passed: fires up to the end (inclusive) only', () => {
    const plan = planCatchUp(every10s(T0 + 3 * I), policy('once'), T0 + I, T0 + 100 * SEC);
    expect(inSeconds(plan)).toEqual({ run: 30, backlog: null, missed: { count: 2, first: 10, last: 20, reason: reasons.onceLatest('2 fires') } });
    expect(inSeconds(planCatchUp(every10s(T0 + 3 * I), policy('none'), T0 + I, T0 + 100 * SEC))).toMatchObject({ run: null, missed: { count: 3, last: 30 } });
  });

  it('once (a delay or at task), late: once and all run it; none records it; a window it is outside of skips it', () => {
    const at = T0 + I;
    const now = T0 + 5 * MIN;
    expect(planCatchUp(onceAt(at), policy('once'), at, now)).toEqual({ run: at, missed: null, backlog: null });
    expect(planCatchUp(onceAt(at), policy('all'), at, now)).toEqual({ run: at, missed: null, backlog: null });
    expect(planCatchUp(onceAt(at), policy('none'), at, now)).toEqual({ run: null, backlog: null, missed: { count: 1, first: at, last: at, reason: reasons.none('1 fire') } });
    expect(planCatchUp(onceAt(at), policy('once', MIN), at, now)).toEqual({ run: null, backlog: null, missed: { count: 1, first: at, last: at, reason: reasons.allOutOfWindow('1 fire') } });
    expect(planCatchUp(onceAt(at), policy('once', 10 * MIN), at, now)).toEqual({ run: at, missed: null, backlog: null });
  });
});
