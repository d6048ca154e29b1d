/**
 * The spec's flag style: `-type=cron`, `-time=10s`, `-watch=true`, a single dash before a
 * long name. commander reads only GNU style, so such arguments are rewritten to `--type=cron`
 * before parsing. Only names the command knows are rewritten, and never the value of a
 * preceding option or anything after `--`, so a script such as "-la" passes untouched.
 */

/** Rewrites single-dash long options among `args` to GNU style. */
export function normalizeSpecFlags(
  args: readonly string[],
  knownLongNames: ReadonlySet<string>,
  namesTakingValues: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  let expectValue = false;
  let afterDoubleDash = false;
  for (const arg of args) {
    if (afterDoubleDash || expectValue) {
      out.push(arg);
      expectValue = false;
      continue;
    }
    if (arg === '--') {
      afterDoubleDash = true;
      out.push(arg);
      continue;
    }
    const match = /^--?([a-zA-Z][a-zA-Z-]*)(=.*)?$/s.exec(arg);
    const name = match?.[1];
    if (!match || name === undefined || !knownLongNames.has(name)) {
      out.push(arg);
      continue;
    }
    out.push(`--${name}${match[2] ?? ''}`);
    // "--type cron": the next argument is this option's value, whatever it looks like.
    expectValue = match[2] === undefined && namesTakingValues.has(name);
  }
  return out;
}
