/** Checks text in order: for the output of watchers and logs, where what comes after what is the behaviour. */

/**
 * Finds each of `patterns` in `text`, each after the previous one; throws naming the first
 * one missing, with the whole text. Returns the index after the last match.
 */
export function expectInOrder(text: string, patterns: Array<string | RegExp>): number {
  let from = 0;
  for (const [index, pattern] of patterns.entries()) {
    const rest = text.slice(from);
    let at = -1;
    let length = 0;
    if (typeof pattern === 'string') {
      at = rest.indexOf(pattern);
      length = pattern.length;
    } else {
      const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
      if (match) {
        at = match.index;
        length = match[0].length;
      }
    }
    if (at < 0) {
      throw new Error(
        `expected ${String(pattern)} (item ${index + 1} of ${patterns.length}) after offset ${from} in:\n${text}`,
      );
    }
    from += at + length;
  }
  return from;
}
