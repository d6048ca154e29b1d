import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { booleanOption } from '../../src/cli/boolean-flag.js';
import { normalizeSpecFlags, optionTable } from '../../src/cli/spec-flags.js';

/**
 * A program shaped like the CLI where it matters here: global options with values, a daemon
 * whose --sandbox takes a mode, and commands whose --sandbox and --watch are booleans.
 */
function program(): Command {
  const root = new Command('scheduler').version('1').option('--server <url>').option('--token-file <file>');
  root.addCommand(new Command('daemon').option('--data-dir <dir>').option('--sandbox <mode>'));
  root.addCommand(
    new Command('submit')
      .argument('<id>')
      .option('--type <type>')
      .option('--time <time>')
      .option('--script <script>')
      .addOption(booleanOption('--sandbox', ''))
      .option('--no-sandbox')
      .option('-n, --next <n>')
      .addOption(booleanOption('--json', '')),
  );
  root.addCommand(new Command('get').argument('<id>').addOption(booleanOption('--watch', '')).addOption(booleanOption('--json', '')));
  root.addCommand(new Command('logs').argument('<id>').addOption(booleanOption('-f, --follow', '')));
  root.addCommand(new Command('list').addOption(booleanOption('--json', '')));
  return root;
}
const table = optionTable(program());
const normalize = (...args: string[]) => normalizeSpecFlags(args, table);

describe('normalizeSpecFlags', () => {
  it("rewrites the spec's single-dash style to GNU style", () => {
    expect(normalize('submit', 'job', '-type=cron', '-time=10s', '-script=ls')).toEqual([
      'submit', 'job', '--type=cron', '--time=10s', '--script=ls',
    ]);
    expect(normalize('get', 'job', '-watch=true')).toEqual(['get', 'job', '--watch=true']);
    expect(normalize('get', 'job', '-watch')).toEqual(['get', 'job', '--watch=true']);
    expect(normalize('-token-file=/run/token', 'list')).toEqual(['--token-file=/run/token', 'list']);
    expect(normalize('submit', 'job', '-sandbox=false', '-json=true')).toEqual(['submit', 'job', '--sandbox=false', '--json=true']);
  });

  it('keeps the value of a spec-style option whole, "=" and spaces included', () => {
    expect(normalize('submit', 'job', '-script=sleep 10s;echo $((1+2))')).toEqual([
      'submit', 'job', '--script=sleep 10s;echo $((1+2))',
    ]);
    expect(normalize('submit', '-script=a=b')).toEqual(['submit', '--script=a=b']);
    expect(normalize('submit', '-script=line1\nline2')).toEqual(['submit', '--script=line1\nline2']);
  });

  it('leaves GNU style untouched', () => {
    const args = ['submit', 'job', '--type', 'cron', '--time=10s', '--script', 'ls -la', '--json=false'];
    expect(normalize(...args)).toEqual(args);
  });

  it('never rewrites the value of an option that takes one, even when it looks like a flag', () => {
    expect(normalize('submit', 'job', '--script', '-type=cron')).toEqual(['submit', 'job', '--script', '-type=cron']);
    expect(normalize('submit', 'job', '-script', '-la')).toEqual(['submit', 'job', '--script', '-la']);
    expect(normalize('submit', 'job', '-script', '-time=1s', '-time=2s')).toEqual([
      'submit', 'job', '--script', '-time=1s', '--time=2s',
    ]);
  });

  it('gives a bare boolean the value true, so that it never takes the next argument', () => {
    expect(normalize('get', 'job', '-watch', '-json')).toEqual(['get', 'job', '--watch=true', '--json=true']);
    expect(normalize('get', '--watch', 'job')).toEqual(['get', '--watch=true', 'job']);
    expect(normalize('submit', '--sandbox', '-script=ls', 'job')).toEqual(['submit', '--sandbox=true', '--script=ls', 'job']);
    expect(normalize('logs', '-f', 'job')).toEqual(['logs', '--follow=true', 'job']);
  });

  it('takes the next argument as a boolean\'s value only when it is true or false', () => {
    expect(normalize('get', 'job', '--watch', 'false')).toEqual(['get', 'job', '--watch=false']);
    expect(normalize('get', 'job', '-watch', 'true', '--json')).toEqual(['get', 'job', '--watch=true', '--json=true']);
    expect(normalize('get', '--watch', 'yes')).toEqual(['get', '--watch=true', 'yes']);
    expect(normalize('get', 'job', '--watch=no')).toEqual(['get', 'job', '--watch=no']);
  });

  it("reads each option as the command it follows has it (the daemon's --sandbox takes a mode)", () => {
    expect(normalize('daemon', '--sandbox', 'required', '-data-dir=/d')).toEqual(['daemon', '--sandbox', 'required', '--data-dir=/d']);
    expect(normalize('daemon', '-sandbox', '-data-dir=/d')).toEqual(['daemon', '--sandbox', '-data-dir=/d']);
    expect(normalize('submit', 'job', '--sandbox', '-data-dir=/d')).toEqual(['submit', 'job', '--sandbox=true', '-data-dir=/d']);
    expect(normalize('submit', 'job', '-no-sandbox')).toEqual(['submit', 'job', '--no-sandbox']);
  });

  it('reads the global options before the command, and beside the command\'s own after it', () => {
    expect(normalize('-server=http://h', 'submit', '-server', 'http://i', '-type=cron')).toEqual([
      '--server=http://h', 'submit', '--server', 'http://i', '--type=cron',
    ]);
    // Before the command's name, "--sandbox" is no option of the program: left to commander.
    expect(normalize('-sandbox', 'submit')).toEqual(['-sandbox', 'submit']);
    // The value of a global option is not the command's name.
    expect(normalize('--server', 'get', 'submit', '-watch')).toEqual(['--server', 'get', 'submit', '-watch']);
  });

  it('keeps short options, their values separate from them', () => {
    expect(normalize('submit', 'job', '-n', '-3')).toEqual(['submit', 'job', '--next', '-3']);
    expect(normalize('submit', 'job', '-n=3')).toEqual(['submit', 'job', '--next=3']);
    expect(normalize('-V')).toEqual(['--version']);
  });

  it('rewrites nothing after "--"', () => {
    expect(normalize('submit', 'job', '-type=delay', '--', '-time=1m', '-watch=true', '--')).toEqual([
      'submit', 'job', '--type=delay', '--', '-time=1m', '-watch=true', '--',
    ]);
  });

  it('leaves unknown single-dash names, short flags and plain words untouched', () => {
    expect(normalize('list', '-la', '-foo=bar', '-x', '-', '-1s', 'type=cron', '-=x', '-type=cron')).toEqual([
      'list', '-la', '-foo=bar', '-x', '-', '-1s', 'type=cron', '-=x', '-type=cron',
    ]);
    expect(normalize('list', '-h')).toEqual(['list', '--help']);
  });

  it('returns a new array and leaves the input alone', () => {
    const input = Object.freeze(['submit', '-type=cron']);
    const out = normalizeSpecFlags(input, table);
    expect(out).toEqual(['submit', '--type=cron']);
    expect(input).toEqual(['submit', '-type=cron']);
  });
});
