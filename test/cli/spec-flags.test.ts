import { describe, expect, it } from 'vitest';
import { normalizeSpecFlags } from '../../src/cli/spec-flags.js';

/** The long options of the CLI that matter here, as main.ts collects them. */
const known = new Set(['help', 'version', 'server', 'token-file', 'type', 'time', 'script', 'watch', 'json', 'data-dir']);
const withValues = new Set(['server', 'token-file', 'type', 'time', 'script', 'data-dir']);
const normalize = (...args: string[]) => normalizeSpecFlags(args, known, withValues);

describe('normalizeSpecFlags', () => {
  it("rewrites the spec's single-dash style to GNU style", () => {
    expect(normalize('submit', 'job', '-type=cron', '-time=10s', '-script=ls')).toEqual([
      'submit', 'job', '--type=cron', '--time=10s', '--script=ls',
    ]);
    expect(normalize('get', 'job', '-watch=true')).toEqual(['get', 'job', '--watch=true']);
    expect(normalize('get', 'job', '-watch')).toEqual(['get', 'job', '--watch']);
    expect(normalize('-token-file=/run/token', 'list')).toEqual(['--token-file=/run/token', 'list']);
  });

  it('keeps the value of a spec-style option whole, "=" and spaces included', () => {
    expect(normalize('submit', 'job', '-script=sleep 10s;echo $((1+2))')).toEqual([
      'submit', 'job', '--script=sleep 10s;echo $((1+2))',
    ]);
    expect(normalize('-script=a=b')).toEqual(['--script=a=b']);
    expect(normalize('-script=line1\nline2')).toEqual(['--script=line1\nline2']);
  });

  it('leaves GNU style untouched', () => {
    const args = ['submit', 'job', '--type', 'cron', '--time=10s', '--script', 'ls -la', '--json'];
    expect(normalize(...args)).toEqual(args);
  });

  it('never rewrites the value of an option that takes one, even when it looks like a flag', () => {
    expect(normalize('submit', 'job', '--script', '-type=cron')).toEqual(['submit', 'job', '--script', '-type=cron']);
    expect(normalize('submit', 'job', '-script', '-la')).toEqual(['submit', 'job', '--script', '-la']);
    expect(normalize('submit', 'job', '-script', '-time=1s', '-time=2s')).toEqual([
      'submit', 'job', '--script', '-time=1s', '--time=2s',
    ]);
  });

  it('rewrites the flag after a boolean option (it takes no value of its own here)', () => {
    expect(normalize('get', 'job', '-watch', '-json')).toEqual(['get', 'job', '--watch', '--json']);
  });

  it('rewrites nothing after "--"', () => {
    expect(normalize('submit', 'job', '-type=delay', '--', '-time=1m', '-watch=true', '--')).toEqual([
      'submit', 'job', '--type=delay', '--', '-time=1m', '-watch=true', '--',
    ]);
  });

  it('leaves unknown single-dash names, short flags and plain words untouched', () => {
    expect(normalize('list', '-la', '-foo=bar', '-h', '-', '-1s', 'type=cron', '-=x')).toEqual([
      'list', '-la', '-foo=bar', '-h', '-', '-1s', 'type=cron', '-=x',
    ]);
  });

  it('returns a new array and leaves the input alone', () => {
    const input = Object.freeze(['-type=cron']);
    const out = normalizeSpecFlags(input, known, withValues);
    expect(out).toEqual(['--type=cron']);
    expect(input).toEqual(['-type=cron']);
  });
});
