/**
 * The spec's flag style: `-type=cron`, `-time=10s`, `-watch=true`, a single dash before a
 * long name. commander reads only GNU style, so such arguments are rewritten to `--type=cron`
 * before parsing, and both styles mix in any order.
 *
 * What an argument is depends on the command it belongs to (the daemon's `--sandbox` takes a
 * mode, submit's is a boolean), so the rewriting follows the command line as commander will:
 * the program's options until the command's name, then the command's (and the program's).
 * Only names the command knows are rewritten, and never the value of a preceding option or
 * anything after `--`, so a script such as "-la" passes untouched. Boolean flags always come
 * out as `--flag=VALUE`, so that commander never takes the next argument as their value.
 */
import type { Command, Option } from 'commander';
import { takesBooleanValue } from './boolean-flag.js';

/**
 * How an option takes a value: `value` always (the next argument if not attached), `boolean`
 * a flag that takes true/false (see booleanOption()), `optional` another optional value, and
 * `flag` none (`--no-sandbox`, `--help`).
 */
export type OptionShape = 'value' | 'boolean' | 'optional' | 'flag';

/** An option as written on the command line ("--type", "-n"). */
export interface KnownOption {
  shape: OptionShape;
  /** Its long form, which the rewritten arguments use; undefined for a short-only option. */
  long: string | undefined;
}

/** The options known before the command's name, and within each command (by name and alias). */
export interface OptionTable {
  program: ReadonlyMap<string, KnownOption>;
  commands: ReadonlyMap<string, ReadonlyMap<string, KnownOption>>;
}

/** The option table of a commander program and its commands. */
export function optionTable(program: Command): OptionTable {
  const programOptions = optionsOf(program, new Map());
  const commands = new Map<string, ReadonlyMap<string, KnownOption>>();
  for (const command of program.commands) {
    // A command's own option wins over the program's of the same name.
    const options = optionsOf(command, new Map(programOptions));
    for (const name of [command.name(), ...command.aliases()]) commands.set(name, options);
  }
  return { program: programOptions, commands };
}

function optionsOf(command: Command, into: Map<string, KnownOption>): Map<string, KnownOption> {
  const help: KnownOption = { shape: 'flag', long: '--help' };
  into.set('--help', help).set('-h', help);
  for (const option of command.options) {
    const known: KnownOption = { shape: shapeOf(option), long: option.long };
    if (option.long) into.set(option.long, known);
    if (option.short) into.set(option.short, known);
  }
  return into;
}

function shapeOf(option: Option): OptionShape {
  if (option.required) return 'value';
  if (takesBooleanValue(option)) return 'boolean';
  return option.optional ? 'optional' : 'flag';
}

/** "-type=cron" -> { key: "--type", value: "cron" }; "-n" -> { key: "-n" }; a word -> undefined. */
function splitFlag(arg: string): { key: string; value: string | undefined } | undefined {
  const match = /^(--?)([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$/s.exec(arg);
  if (!match) return undefined;
  const [, dashes, name, value] = match as unknown as [string, string, string, string | undefined];
  // One dash before one letter is a short option; before more, the spec's long option.
  const key = dashes === '-' && name.length === 1 ? `-${name}` : `--${name}`;
  return { key, value };
}

/** Rewrites `args` (without node and the script) to GNU style, as `table` says each option is. */
export function normalizeSpecFlags(args: readonly string[], table: OptionTable): string[] {
  const out: string[] = [];
  let known = table.program;
  let commandSeen = false;
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--') {
      for (const rest of args.slice(index)) out.push(rest);
      break;
    }
    const flag = splitFlag(arg);
    const option = flag === undefined ? undefined : known.get(flag.key);
    if (flag === undefined || option === undefined) {
      // The first word that is no option's value is the command's name.
      if (!commandSeen && !arg.startsWith('-') && table.commands.has(arg)) {
        known = table.commands.get(arg)!;
        commandSeen = true;
      }
      out.push(arg);
      continue;
    }
    const next = args[index + 1];
    let value = flag.value;
    switch (option.shape) {
      case 'value':
        // "--type cron": the next argument is this option's value, whatever it looks like.
        if (value === undefined && next !== undefined) {
          value = next;
          index += 1;
          out.push(option.long ?? flag.key, value);
          continue;
        }
        break;
      case 'boolean':
        // Bare, it means true; the next argument is its value only if that is true or false.
        if (value === undefined && (next === 'true' || next === 'false')) {
          value = next;
          index += 1;
        }
        value ??= 'true';
        break;
      case 'optional':
        break;
      case 'flag':
        // An unexpected "=value" is commander's error to report, as written.
        if (value !== undefined && option.long === undefined) {
          out.push(arg);
          continue;
        }
        break;
    }
    out.push(...withValue(option.long ?? flag.key, value));
  }
  return out;
}

/** "--type=cron", or "-n", "3" for a short option (commander reads no "=" after those). */
function withValue(written: string, value: string | undefined): string[] {
  if (value === undefined) return [written];
  return written.startsWith('--') ? [`${written}=${value}`] : [written, value];
}
