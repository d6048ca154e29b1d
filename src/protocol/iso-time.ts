/**
 * Epoch milliseconds as RFC 3339 UTC with milliseconds, the form of every time in the API
 * ("2026-12-07T00:31:21.194Z"), exactly as `Date.prototype.toISOString` writes it.
 *
 * Why not toISOString itself: a page of 100 tasks formats about 300 times, and building a
 * Date per time was a fifth of a page's CPU (bench figure 7b). The date part is formatted
 * by toISOString once per day and kept for the days in use (a task's times fall on several:
 * its last change today, its next fire weeks ahead); the time of day is arithmetic. Times outside
 * 1970-9999 or with a fraction of a millisecond (never written by the daemon) take
 * toISOString's path, so the output is the same for every input.
 */
const dayMs = 86_400_000;
/** Days from 1970-01-01 to 10000-01-01: beyond, toISOString writes a six-digit year. */
const daysToYear10000 = 2_932_897;
const twoDigits = Array.from({ length: 60 }, (_, value) => String(value).padStart(2, '0'));
const threeDigits = Array.from({ length: 1000 }, (_, value) => String(value).padStart(3, '0'));

/** "YYYY-MM-DDT" by day since the epoch, for the days formatted lately; emptied when full. */
const datePartsByDay = new Map<number, string>();
const maxDatePartsKept = 4096;

function datePartOf(day: number): string {
  let datePart = datePartsByDay.get(day);
  if (datePart === undefined) {
    if (datePartsByDay.size >= maxDatePartsKept) datePartsByDay.clear();
    datePart = new Date(day * dayMs).toISOString().slice(0, 11);
    datePartsByDay.set(day, datePart);
  }
  return datePart;
}

export function isoTime(ms: number): string {
  const day = Math.floor(ms / dayMs);
  if (!(day >= 0 && day < daysToYear10000) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  let rest = ms - day * dayMs;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${datePartOf(day)}${twoDigits[hours]}:${twoDigits[minutes]}:${twoDigits[seconds]}.${threeDigits[rest - seconds * 1000]}Z`;
}

export const isoTimeOrNull = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));
