/**
 * Boolean flags that also take an explicit value: bare `--json`, `--json=false`, the spec's
 * `-watch=true`, and `--watch false`. Every boolean flag of the client commands is made with
 * booleanOption(), so they all behave alike.
 */
import { InvalidArgumentError, Option } from 'commander';

/** commander's argument parser for a boolean flag's value. */
export function parseBooleanFlag(value: string | undefined): boolean {
  if (value === undefined) return true;
  const normalized = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true;
  if (['false', '0', 'no', 'off'].includes(normalized)) return false;
  throw new InvalidArgumentError(`"${value}" is not true or false.`);
}

/**
 * A boolean flag (`flags` without a value placeholder, e.g. "-f, --follow") that also accepts
 * `=true`/`=false`. To commander it is an option with an optional value, but the help shows
 * it as the plain flag it is. A bare flag must not take the next argument as its value
 * ("submit --sandbox job" is not "sandbox=job"): normalizeSpecFlags() rewrites a bare one to
 * `--flag=true`, and takes the next argument only when it is `true` or `false`.
 */
export function booleanOption(flags: string, description: string): Option {
  const option = new Option(flags, description).argParser(parseBooleanFlag);
  option.optional = true;
  return option;
}

/** Whether `option` was made by booleanOption(). */
export function takesBooleanValue(option: Option): boolean {
  return option.optional && option.parseArg === parseBooleanFlag;
}
