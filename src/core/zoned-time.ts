/**
 * Times as people write them, in a time zone: an instant with its offset (ISO 8601, `Z` or
 * `+01:00`), or a local date-time (`2026-12-01 09:30`, `2026-12-01T09:30:00`, `2026-12-01`)
 * read in an IANA zone. A local time that does not exist (skipped by a daylight-saving
 * change) is read as the same clock time after the gap; one that occurs twice is read as its
 * first occurrence, as cron does.
 */
import { SchedulerError } from './errors.js';

/** The zone the daemon runs in (TZ, else the system's). */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Throws invalid_request naming `field` unless `zone` is an IANA time zone this system knows. */
export function checkTimeZone(zone: string, field: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new SchedulerError('invalid_request', `${field}: "${zone}" is not a time zone; use an IANA name such as Europe/Paris, America/New_York or UTC`);
  }
}

const withOffset = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d)$/i;
const local = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?)?$/;

/** Reads `text` as an instant, a local time being in `zone`; throws invalid_request naming `field`. */
export function parseTimeIn(text: string, zone: string, field: string): number {
  const trimmed = text.trim();
  if (withOffset.test(trimmed)) {
    const at = Date.parse(trimmed);
    if (!Number.isNaN(at)) return at;
  }
  const match = local.exec(trimmed);
  if (match) {
    const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map((part) => Number(part ?? 0));
    const millisecond = Number((match[7] ?? '0').padEnd(3, '0'));
    const wall = Date.UTC(year!, month! - 1, day!, hour, minute, second, millisecond);
    // Date.UTC rolls 2026-02-30 over into March: refuse what is not a real date.
    const check = new Date(wall);
    if (check.getUTCMonth() === month! - 1 && check.getUTCDate() === day && hour < 24 && minute < 60 && second < 60) {
      return localToInstant(wall, zone);
    }
  }
  throw new SchedulerError(
    'invalid_request',
    `${field}: "${text}" is not a time; write 2026-12-01T09:30:00Z, 2026-12-01T09:30+01:00, or a local time such as "2026-12-01 09:30" (read in ${zone})`,
  );
}

/**
 * The instant at which clocks in `zone` show `wall` (a local time written as if it were UTC).
 * The zone's offset is read at a first guess, then at the instant that guess gives: two
 * passes settle it, except in a gap (no instant shows that time), where the later offset
 * gives the time after the gap.
 */
function localToInstant(wall: number, zone: string): number {
  const first = wall - offsetAt(wall, zone);
  const second = wall - offsetAt(first, zone);
  if (second === first) return earliestMatch(wall, first, zone);
  // The wall time lies in a gap or an overlap: take the candidate that shows it, else the later one.
  const candidates = [first, second].filter((at) => at + offsetAt(at, zone) === wall);
  return candidates.length > 0 ? Math.min(...candidates) : Math.max(first, second);
}

/** In an overlap the same wall time shows twice: prefer the earlier instant. */
function earliestMatch(wall: number, found: number, zone: string): number {
  const hourEarlier = found - 3_600_000;
  return hourEarlier + offsetAt(hourEarlier, zone) === wall ? hourEarlier : found;
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
