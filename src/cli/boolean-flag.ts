/** Boolean flags that also take the spec's explicit value: `-watch=true`, `--watch false`. */
import { InvalidArgumentError } from 'commander';

/** commander's argument parser for `--flag [bool]`. */
export function parseBooleanFlag(value: string | undefined): boolean {
  if (value === undefined) return true;
  const normalized = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(normalized)) return true;
  if (['false', '0', 'no', 'off'].includes(normalized)) return false;
  throw new InvalidArgumentError(`"${value}" is not true or false.`);
}
