/**
 * Times as people write them, in a time zone: an instant with its offset (ISO 8601, `Z` or
 * `+01:00`), or a local date-time (`2026-12-01 09:30`, `2026-12-01T09:30:00`, `2026-12-01`)
 * read in an IANA zone. A local time that does not exist (skipped by a daylight-saving
 * change) is read as the same clock time after the gap; one that occurs twice is read as its
 * first occurrence, as cron does.
 *
 * The zone is always given: nothing here reads the host's (the clock knows the daemon's).
 */
import { SchedulerError } from './errors.js';

/**
 * `zone`, with the letter case this system gives it ("utc" -> "UTC"), but otherwise as the
 * user wrote it (the system may prefer an older name: Asia/Calcutta for Asia/Kolkata);
 * invalid_request naming `field` if the system does not know it.
 */
export function canonicalTimeZone(zone: string, field: string): string {
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    return resolved.toLowerCase() === zone.toLowerCase() ? resolved : zone;
  } catch {
    throw new SchedulerError('invalid_request', `${field}: "${zone}" is not a time zone; use an IANA name such as Europe/Paris, America/New_York or UTC`);
  }
}

const withOffset = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?(Z|[+-]\d\d:\d\d)$/i;
const local = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?)?$/;

/** Reads `text` as an instant, a local time being in `zone`; throws invalid_request naming `field`. */
export function parseTimeIn(text: string, zone: string, field: string): number {
  const trimmed = text.trim();
  const offsetMatch = withOffset.exec(trimmed);
  const match = offsetMatch ?? local.exec(trimmed);
  const wall = match ? wallTime(match) : null;
  if (wall !== null && offsetMatch) return wall - offsetMs(offsetMatch[8]!);
  if (wall !== null) return localToInstant(wall, zone);
  throw new SchedulerError(
    'invalid_request',
    `${field}: "${text}" is not a time; write 2026-12-01T09:30:00Z, 2026-12-01T09:30+01:00, or a local time such as "2026-12-01 09:30" (read in ${zone})`,
  );
}

/**
 * Reads `text` as an instant written with its offset, as RFC 3339 has it
 * (2026-12-01T09:30:00.000Z, 2026-12-01T10:30:00+01:00): where no zone is at hand to read a
 * local time in. Throws invalid_request naming `field`.
 */
export function parseInstant(text: string, field: string): number {
  const match = withOffset.exec(text);
  const wall = match ? wallTime(match) : null;
  if (match && wall !== null) return wall - offsetMs(match[8]!);
  throw new SchedulerError(
    'invalid_request',
    `${field}: "${text}" is not an RFC 3339 time from 1970 on; write it with its offset, such as 2026-12-01T09:30:00.000Z or 2026-12-01T10:30:00+01:00`,
  );
}

/** The date and time written in `match` as if it were UTC, or null when it is not a real one (2026-02-30). */
function wallTime(match: RegExpExecArray): number | null {
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const millisecond = Number((match[7] ?? '0').padEnd(3, '0'));
  // A scheduler has no use for times before the Unix epoch (and zone data has none).
  if (year! < 1970 || hour! > 23 || minute! > 59 || second! > 59) return null;
  const date = new Date(Date.UTC(year!, month! - 1, day!, hour, minute, second, millisecond));
  // A day past the month's end rolls over into the next month: refuse it instead.
  return date.getUTCMonth() === month! - 1 && date.getUTCDate() === day ? date.getTime() : null;
}

function offsetMs(offset: string): number {
  if (offset.toUpperCase() === 'Z') return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000;
}

/**
 * The instant at which clocks in `zone` show `wall` (a local time written as if it were UTC).
 * Around it the zone has at most two offsets, the one a day before and the one a day after:
 * each gives a candidate, kept if clocks really show `wall` then. Two (the hour repeated in
 * autumn): the first. None (the hour skipped in spring): the same clock time after the gap,
 * which is `wall` read with the offset from before the change.
 */
function localToInstant(wall: number, zone: string): number {
  const day = 86_400_000;
  const before = wall - offsetAt(wall - day, zone);
  const after = wall - offsetAt(wall + day, zone);
  const shows = [before, after].filter((at) => at + offsetAt(at, zone) === wall);
  return shows.length > 0 ? Math.min(...shows) : before;
}

/** The zone's offset from UTC at `instant`, in milliseconds. */
function offsetAt(instant: number, zone: string): number {
  const parts = formatter(zone).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const shown = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
  return shown - Math.floor(instant / 1000) * 1000;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let made = formatters.get(zone);
  if (!made) {
    made = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, made);
  }
  return made;
}
