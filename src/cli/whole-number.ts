import { SchedulerError } from '../protocol/errors.js';

/** A flag's value as a whole number, refused (naming the flag) when it is not one. */
export function wholeNumber(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new SchedulerError('invalid_request', `${flag}: "${text}" is not a whole number`);
  return value;
}
