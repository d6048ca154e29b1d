/**
 * Times as people write them, read in a time zone, with fixed dates. Europe/Berlin goes to
 * summer time on 2026-03-29 at 01:00Z (02:00 CET -> 03:00 CEST) and back on 2026-10-25 at
 * 01:00Z (03:00 CEST -> 02:00 CET); America/New_York on 2026-03-08 at 07:00Z (02:00 EST ->
 * 03:00 EDT) and back on 2026-11-01 at 06:00Z (02:00 EDT -> 01:00 EST).
 */
import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { canonicalTimeZone, parseTimeIn } from '../../src/core/zoned-time.js';

/** parseTimeIn, as an ISO string so that a failure shows a readable date. */
const read = (text: string, zone: string): string => new Date(parseTimeIn(text, zone, 'start')).toISOString();

function refusal(run: () => unknown): SchedulerError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('invalid_request');
    return error as SchedulerError;
  }
  throw new Error('expected a refusal');
}

describe('parseTimeIn: an instant with its offset', () => {
  it.each([
    ['2026-12-01T09:30:00Z', '2026-12-01T09:30:00.000Z'],
    ['2026-12-01T09:30:00z', '2026-12-01T09:30:00.000Z'],
    ['2026-12-01T09:30Z', '2026-12-01T09:30:00.000Z'],
    ['2026-12-01T09:30:00.250Z', '2026-12-01T09:30:00.250Z'],
    ['2026-12-01T09:30+01:00', '2026-12-01T08:30:00.000Z'],
    ['2026-12-01T09:30:00-05:00', '2026-12-01T14:30:00.000Z'],
    ['2026-12-01T00:15:00+05:45', '2026-11-30T18:30:00.000Z'],
    ['  2026-12-01T09:30:00Z\n', '2026-12-01T09:30:00.000Z'],
  ])('%j is that instant, whatever the zone', (text, expected) => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo']) expect(read(text, zone)).toBe(expected);
  });
});

describe('parseTimeIn: a local time, read in the zone', () => {
  it.each([
    ['2026-12-01 09:30', 'UTC', '2026-12-01T09:30:00.000Z'],
    ['2026-12-01 09:30', 'Europe/Paris', '2026-12-01T08:30:00.000Z'],
    ['2026-12-01T09:30', 'Europe/Berlin', '2026-12-01T08:30:00.000Z'],
    ['2026-12-01 09:30', 'America/New_York', '2026-12-01T14:30:00.000Z'],
    ['2026-12-01 09:30:15', 'Asia/Tokyo', '2026-12-01T00:30:15.000Z'],
    ['2026-12-01T09:30:15.25', 'Asia/Tokyo', '2026-12-01T00:30:15.250Z'],
    ['2026-12-01 09:30:15.007', 'UTC', '2026-12-01T09:30:15.007Z'],
    ['2026-12-01 09:30', 'Asia/Kolkata', '2026-12-01T04:00:00.000Z'],
    // In summer the offsets are one hour more.
    ['2026-07-01 09:00', 'Europe/Berlin', '2026-07-01T07:00:00.000Z'],
    ['2026-07-01 09:00', 'America/New_York', '2026-07-01T13:00:00.000Z'],
    // A date alone is its midnight, in the zone.
    ['2026-12-01', 'Europe/Berlin', '2026-11-30T23:00:00.000Z'],
    ['2026-12-01', 'America/New_York', '2026-12-01T05:00:00.000Z'],
    ['2026-12-01', 'UTC', '2026-12-01T00:00:00.000Z'],
    // The last moments of a day and a year.
    ['2026-12-31 23:59:59.999', 'UTC', '2026-12-31T23:59:59.999Z'],
    ['2028-02-29 12:00', 'UTC', '2028-02-29T12:00:00.000Z'],
  ])('%j in %s is %s', (text, zone, expected) => {
    expect(read(text, zone)).toBe(expected);
  });

  it('just before and just after a change, each side has its own offset', () => {
    expect(read('2026-03-29 01:59', 'Europe/Berlin')).toBe('2026-03-29T00:59:00.000Z');
    expect(read('2026-03-29 03:00', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(read('2026-10-25 01:59', 'Europe/Berlin')).toBe('2026-10-24T23:59:00.000Z');
    expect(read('2026-10-25 03:00', 'Europe/Berlin')).toBe('2026-10-25T02:00:00.000Z');
    expect(read('2026-03-08 01:59', 'America/New_York')).toBe('2026-03-08T06:59:00.000Z');
    expect(read('2026-03-08 03:00', 'America/New_York')).toBe('2026-03-08T07:00:00.000Z');
    expect(read('2026-11-01 02:00', 'America/New_York')).toBe('2026-11-01T07:00:00.000Z');
  });

  it('a time in a spring-forward gap is the same clock time after the gap', () => {
    // 02:30 does not exist on 2026-03-29 in Berlin: 03:30 CEST.
    expect(read('2026-03-29 02:30', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z');
    expect(read('2026-03-29 02:00', 'Europe/Berlin')).toBe('2026-03-29T01:00:00.000Z');
    expect(read('2026-03-29 02:59:59', 'Europe/Berlin')).toBe('2026-03-29T01:59:59.000Z');
    // 02:30 on 2026-03-08 in New York: 03:30 EDT.
    expect(read('2026-03-08 02:30', 'America/New_York')).toBe('2026-03-08T07:30:00.000Z');
  });

  it('a time that occurs twice (fall back) is its first occurrence', () => {
    // 02:30 on 2026-10-25 in Berlin: 02:30 CEST (00:30Z), not 02:30 CET (01:30Z).
    expect(read('2026-10-25 02:30', 'Europe/Berlin')).toBe('2026-10-25T00:30:00.000Z');
    expect(read('2026-10-25 02:00', 'Europe/Berlin')).toBe('2026-10-25T00:00:00.000Z');
    expect(read('2026-10-25 02:59:59', 'Europe/Berlin')).toBe('2026-10-25T00:59:59.000Z');
    // 01:30 on 2026-11-01 in New York: 01:30 EDT (05:30Z), not 01:30 EST (06:30Z).
    expect(read('2026-11-01 01:30', 'America/New_York')).toBe('2026-11-01T05:30:00.000Z');
    expect(read('2026-11-01 01:00', 'America/New_York')).toBe('2026-11-01T05:00:00.000Z');
  });

  // Australia/Lord_Howe moves its clocks by 30 minutes: on 2026-04-05 02:00 (+11:00) becomes
  // 01:30 (+10:30) at 2026-04-04T15:00Z, so 01:45 occurs at 14:45Z and again at 15:15Z.
  it('a time that occurs twice in a zone that moves its clocks by half an hour is its first occurrence', () => {
    expect(read('2026-04-05 01:45', 'Australia/Lord_Howe')).toBe('2026-04-04T14:45:00.000Z');
  });

  it('a time in a half-hour gap is the same clock time after it', () => {
    // 2026-10-04 02:00 (+10:30) becomes 02:30 (+11:00) at 2026-10-03T15:30Z: 02:15 reads as 02:45 (+11:00).
    expect(read('2026-10-04 02:15', 'Australia/Lord_Howe')).toBe('2026-10-03T15:45:00.000Z');
  });
});

describe('parseTimeIn: what is not a time', () => {
  it.each([
    '2026-02-30', // no such date
    '2026-02-29 10:00', // 2026 is not a leap year
    '2026-04-31',
    '2026-13-01',
    '2026-00-10',
    '2026-12-00',
    '2026-12-01 24:00',
    '2026-12-01 09:60',
    '2026-12-01 09:30:60',
    '2026-12-01 9:30',
    '2026-12-01 09',
    '2026-12-01T09:30:00.1234Z',
    '2026-12-01T09:30:00+0100',
    '2026-12-01T09:30:00 Z',
    '01/12/2026',
    '1764581400000',
    'tomorrow',
    'now',
    '',
    '   ',
  ])('refuses %j, naming the field, the text and the zone', (text) => {
    const error = refusal(() => parseTimeIn(text, 'Europe/Berlin', 'start'));
    expect(error.message).toMatch(/^start: ".*" is not a time/s);
    expect(error.message).toContain(`"${text}"`);
    expect(error.message).toContain('read in Europe/Berlin');
  });

  it('names the field it is given', () => {
    expect(refusal(() => parseTimeIn('soon', 'UTC', 'end')).message).toMatch(/^end: "soon" is not a time/);
    expect(refusal(() => parseTimeIn('soon', 'UTC', 'time')).message).toMatch(/^time: "soon" is not a time/);
  });

  it.each(['2026-02-30T09:30:00Z', '2026-04-31T09:30:00+02:00', '2026-02-29T00:00:00Z'])(
    'refuses %j, a date that does not exist, given with its offset',
    (text) => {
      refusal(() => parseTimeIn(text, 'UTC', 'start'));
    },
  );

  it('reads a year below 100 as itself, or refuses it, but not as one in the 1900s', () => {
    let at: number;
    try {
      at = parseTimeIn('0099-06-01 12:00', 'UTC', 'start');
    } catch {
      return; // refusing it is fine too
    }
    expect(new Date(at).getUTCFullYear()).toBe(99);
  });
});

describe('canonicalTimeZone', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Etc/GMT+5'])('accepts %j as it is', (zone) => {
    expect(canonicalTimeZone(zone, 'timezone')).toBe(zone);
  });

  it('spells a zone written another way as the system does', () => {
    expect(canonicalTimeZone('utc', 'timezone')).toBe('UTC');
    expect(canonicalTimeZone('europe/paris', 'timezone')).toBe('Europe/Paris');
  });

  it.each(['Mars/Olympus_Mons', 'Europe/Berlim', 'not a zone', 'EST5EDT/Nowhere'])('refuses %j, naming the field and the zone', (zone) => {
    const error = refusal(() => canonicalTimeZone(zone, 'timezone'));
    expect(error.message).toMatch(/^timezone: ".*" is not a time zone/);
    expect(error.message).toContain(`"${zone}"`);
  });
});
