/**
 * Time is passed in: nothing in src/core reads the host's clock or zone; the engine's Clock
 * gives both. A guard over the sources, then answers of core that must not depend on the zone
 * the tests run in. Like the other time-zone tests, this file runs twice: in the host's zone,
 * and in another one (the other-zone project of vitest.config.ts), against the same literal
 * answers, so a core function that read the host's zone fails in at least one of the runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextFires } from '../../src/core/schedule.js';
import { parseSubmission } from '../../src/core/submission.js';
import { parseTimeIn } from '../../src/core/zoned-time.js';

const coreDir = join(import.meta.dirname, '..', '..', 'src', 'core');
const hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** What reads the host's time or zone; `new Date(x)`, `Date.UTC` and the getUTC* methods do not. */
const hostReads: Array<[string, RegExp]> = [
  ['Date.now()', /\bDate\.now\b/],
  ['new Date() without an argument', /\bnew Date\(\s*\)/],
  ['a date built from local parts', /\bnew Date\(\s*\d+\s*,/],
  ['getTimezoneOffset()', /\.getTimezoneOffset\(/],
  ['the default zone of Intl', /\bDateTimeFormat\(\s*\)/],
  ['a toLocale* method', /\.toLocale\w*\(/],
  ['a local getter or setter (getHours, setDate...)', /\.[gs]et(?:FullYear|Month|Date|Day|Hours|Minutes|Seconds|Milliseconds)\(/],
  ['process.env (TZ)', /\bprocess\.env\b/],
];

describe('src/core takes the time and the zone as parameters', () => {
  const files = readdirSync(coreDir).filter((name) => name.endsWith('.ts'));

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files)('%s reads neither the host clock nor its zone', (name) => {
    const source = readFileSync(join(coreDir, name), 'utf8');
    const found = hostReads.filter(([, pattern]) => pattern.test(source)).map(([what]) => what);
    expect(found, `src/core/${name} reads the host's time or zone: take a \`now\` or a zone as a parameter instead (see src/core/clock.ts)`).toEqual([]);
  });

  it('the guard finds what it looks for', () => {
    const caught = (line: string) => hostReads.some(([, pattern]) => pattern.test(line));
    for (const line of ['const t = Date.now();', 'new Date()', 'new Date(2026, 0, 1)', 'd.getHours()', 'Intl.DateTimeFormat().resolvedOptions()', 'd.toLocaleString()', 'd.getTimezoneOffset()']) {
      expect(caught(line), line).toBe(true);
    }
    for (const line of ['new Date(now).toISOString()', 'Date.UTC(2026, 0, 1)', 'd.getUTCHours()', "new Intl.DateTimeFormat('en-US', { timeZone: zone })"]) {
      expect(caught(line), line).toBe(false);
    }
  });
});

describe(`the same answers with the host in ${hostZone}`, () => {
  const now = Date.parse('2030-03-20T12:00:00.000Z');
  const limits = { maxScriptBytes: 1024 };
  const iso = (ms: number) => new Date(ms).toISOString();

  it('runs in the zone this run was given (TZ)', () => {
    // The other-zone project sets TZ; that it took effect is what makes its run a second zone.
    if (process.env.TZ) expect(hostZone).toBe(process.env.TZ);
  });

  it("a local `at` time without a zone is read in the daemon's zone passed in, not the host's", () => {
    const definition = parseSubmission({ id: 'local', type: 'at', time: '2030-03-21 09:30', script: 'true' }, limits, now, 'Asia/Kolkata');
    expect(definition.timezone).toBe('Asia/Kolkata');
    expect(definition.schedule).toEqual({ kind: 'once', at: Date.parse('2030-03-21T04:00:00.000Z') });
  });

  it('a cron expression fires in its zone, across a daylight-saving change', () => {
    // Europe/Paris goes to summer time on 2030-03-31: 09:00 is 08:00Z before, 07:00Z after.
    const definition = parseSubmission({ id: 'daily', type: 'cron', time: '0 9 * * *', script: 'true' }, limits, now, 'Europe/Paris');
    expect(nextFires(definition.schedule, Date.parse('2030-03-29T12:00:00Z'), 4).map(iso)).toEqual([
      '2030-03-30T08:00:00.000Z',
      '2030-03-31T07:00:00.000Z',
      '2030-04-01T07:00:00.000Z',
      '2030-04-02T07:00:00.000Z',
    ]);
  });

  it('a local time skipped by a daylight-saving change is read after the gap', () => {
    // New York skips 02:00-03:00 on 2030-03-10: 02:30 is read as 03:30 EDT.
    expect(iso(parseTimeIn('2030-03-10 02:30', 'America/New_York', 'start'))).toBe('2030-03-10T07:30:00.000Z');
  });
});
