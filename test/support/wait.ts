/**
 * Waiting in tests: on a condition or a promise, always with a deadline and a message that
 * says what was awaited, never a blind sleep.
 *
 * - `waitFor` polls until a check yields a value, and returns it.
 * - `until` retries an assertion (or a check that may answer false) until it holds.
 * - `withDeadline` bounds a promise that should settle on its own.
 */

/** Options of waitFor. */
export interface WaitOptions {
  /** When to give up (default 10 s). */
  timeoutMs?: number;
  /** How often to look (default 50 ms). */
  intervalMs?: number;
  /** What to show of the state at the deadline (e.g. the task as it was). */
  describe?: () => unknown;
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than undefined/false,
 * and returns that value. A check that throws counts as "not yet"; at the deadline the wait
 * fails with `what`, the last error, and what `describe` says about the state then.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      let state = '';
      if (options.describe) {
        try {
          state = `\nstate at the deadline: ${JSON.stringify(await options.describe(), null, 2)}`;
        } catch (error) {
          state = `\n(could not describe the state: ${String(error)})`;
        }
      }
      const cause = lastError ? `\nlast error: ${String((lastError as Error).stack ?? lastError)}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${state}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Waits until `check` holds: it neither throws (an `expect` inside passes) nor returns false.
 * Unlike waitFor, a check that returns nothing at all has passed.
 */
export async function until(
  check: () => unknown | Promise<unknown>,
  what = 'condition',
  options: Omit<WaitOptions, 'describe'> = {},
): Promise<void> {
  await waitFor(
    what,
    async () => {
      if ((await check()) === false) throw new Error(`still waiting for: ${what}`);
      return true;
    },
    { timeoutMs: options.timeoutMs ?? 5_000, intervalMs: options.intervalMs ?? 5 },
  );
}

/** Resolves with `promise`, or rejects when `ms` of real time pass first (a deadline, not a wait). */
export function withDeadline<T>(promise: Promise<T>, ms = 10_000, what = 'an answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms}ms for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
