/**
 * How the dashboard writes times, durations and schedules. Times are shown in UTC or in the
 * browser's zone, as the user chose (the toggle in the header, remembered per browser).
 */
export type ZoneChoice = 'utc' | 'local';
export const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** "2026-12-07 08:00:00 UTC", or in the browser's zone "2026-12-07 09:00:00 CET". */
export function formatTime(iso: string | null | undefined, zone: ZoneChoice): string {
  if (!iso) return '—';
  const parts = Object.fromEntries(formatterFor(zone === 'utc' ? 'UTC' : browserZone()).formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
}

/** 1h 2m, 3m 4s, 5.2s, 120ms. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const seconds = Math.round(ms / 1000);
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return `${minutes}m ${rest}s`;
}

/** "in 3m 12s", "due now", "2s overdue". */
export function countdown(iso: string | null, now: number): string {
  if (!iso) return '—';
  const left = Date.parse(iso) - now;
  if (Math.abs(left) < 1000) return 'due now';
  return left > 0 ? `in ${formatDuration(left)}` : `${formatDuration(-left)} overdue`;
}

/** "12s ago", "just now". */
export function ago(iso: string, now: number): string {
  const past = now - Date.parse(iso);
  return past < 1000 ? 'just now' : `${formatDuration(past)} ago`;
}

/** How long a run took, or has been running. */
export function runDuration(run: { startedAt: string | null; finishedAt: string | null }, now: number): number | undefined {
  if (!run.startedAt) return undefined;
  return (run.finishedAt ? Date.parse(run.finishedAt) : now) - Date.parse(run.startedAt);
}

const dayNames = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const shortDays: Record<string, string> = { SUN: 'Sunday', MON: 'Monday', TUE: 'Tuesday', WED: 'Wednesday', THU: 'Thursday', FRI: 'Friday', SAT: 'Saturday' };
const monthNames = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const nicknames: Record<string, string> = {
  '@yearly': 'every year on 1 January at 00:00',
  '@annually': 'every year on 1 January at 00:00',
  '@monthly': 'on the 1st of every month at 00:00',
  '@weekly': 'every Sunday at 00:00',
  '@daily': 'every day at 00:00',
  '@midnight': 'every day at 00:00',
  '@hourly': 'every hour, on the hour',
};

const isNumber = (field: string) => /^\d+$/.test(field);
const pad = (field: string) => field.padStart(2, '0');
const stepOf = (field: string) => /^(?:\*|0)\/(\d+)$/.exec(field)?.[1];

function dayName(field: string): string {
  return field
    .split(',')
    .map((part) => part.split('-').map((day) => shortDays[day.toUpperCase()] ?? dayNames[Number(day) % 7] ?? day).join(' to '))
    .join(', ');
}

/** The time-of-day part of a cron expression in words; undefined when it says it no better than the fields. */
function timeInWords(second: string, minute: string, hour: string): string | undefined {
  const secondStep = stepOf(second);
  if (secondStep && minute === '*' && hour === '*') return `every ${secondStep} seconds`;
  if (second === '*' && minute === '*' && hour === '*') return 'every second';
  if (second !== '0') return undefined;
  if (minute === '*' && hour === '*') return 'every minute';
  const minuteStep = stepOf(minute);
  if (minuteStep && hour === '*') return `every ${minuteStep} minutes`;
  if (isNumber(minute) && hour === '*') return `every hour at minute ${minute}`;
  const hourStep = stepOf(hour);
  if (isNumber(minute) && hourStep) return `every ${hourStep} hours at minute ${minute}`;
  if (isNumber(minute) && isNumber(hour)) return `at ${pad(hour)}:${pad(minute)}`;
  if (isNumber(minute) && /^[\d,]+$/.test(hour)) return `at minute ${minute} of hours ${hour}`;
  return undefined;
}

/** A cron expression in words ("at 09:00, Monday to Friday"); the expression itself when it is too unusual to say better. */
export function cronInWords(expression: string): string {
  const trimmed = expression.trim();
  const nickname = nicknames[trimmed.toLowerCase()];
  if (nickname) return nickname;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return `cron ${trimmed}`;
  const [second, minute, hour, dayOfMonth, month, dayOfWeek] = fields.length === 6 ? fields : ['0', ...fields];
  const time = timeInWords(second!, minute!, hour!);
  if (!time) return `cron ${trimmed}`;
  const days: string[] = [];
  if (dayOfMonth !== '*' && dayOfMonth !== '?') days.push(`on day ${dayOfMonth} of the month`);
  if (dayOfWeek !== '*' && dayOfWeek !== '?') days.push(dayName(dayOfWeek!));
  if (month !== '*') days.push(`in ${month!.split(',').map((m) => monthNames[Number(m) - 1] ?? m).join(', ')}`);
  return days.length === 0 ? time : `${time}, ${days.join(', ')}`;
}

/** A task's schedule in words: "every 5m", "once, 10s after it was submitted", "at 09:00, Monday to Friday (Europe/Paris)". */
export function scheduleInWords(task: { type: string; time: string; timezone: string }, zone: ZoneChoice): string {
  if (task.type === 'at') return `once, at ${formatTime(task.time, zone)}`;
  if (task.type === 'delay') return `once, ${task.time} after it was submitted`;
  if (/^\d/.test(task.time) && !/\s/.test(task.time)) return `every ${task.time}`;
  return `${cronInWords(task.time)} (${task.timezone})`;
}
