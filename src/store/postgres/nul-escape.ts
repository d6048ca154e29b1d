/**
 * PostgreSQL's `text` cannot hold the NUL character (the server refuses the whole statement),
 * while a script's output may contain NUL bytes and SQLite keeps them. So the text of a run
 * that comes from its script (stdout, stderr, the error) is escaped on the way in and
 * unescaped on the way out: NUL is written as U+E000 followed by `0`, and U+E000 itself
 * (a private-use character, rare in output) as U+E000 twice, so that every text round-trips
 * unchanged. Text holding neither is stored as it is, and reads as it is in psql.
 * Byte counts (output_bytes, stdout_bytes) are counted before escaping, as on SQLite.
 */

/** The escape character: the first of Unicode's private-use area. */
const escape = '\u{e000}';
const needsEscaping = /[\0\u{e000}]/u;
const escaped = /\u{e000}([0\u{e000}])/gu;

/** `text` as a PostgreSQL `text` value can hold it. */
export function escapeNul(text: string): string {
  if (!needsEscaping.test(text)) return text;
  return text.replace(/[\0\u{e000}]/gu, (found) => (found === '\0' ? `${escape}0` : `${escape}${escape}`));
}

/** The text escapeNul was given. */
export function unescapeNul(text: string): string {
  if (!text.includes(escape)) return text;
  return text.replace(escaped, (_, code: string) => (code === '0' ? '\0' : escape));
}

/** The columns of `runs` whose text comes from a script and may hold NUL. */
const scriptTextColumns = ['stdout', 'stderr', 'error'] as const;
type ScriptTextColumns = { [Column in (typeof scriptTextColumns)[number]]?: string | number | null };

/** A run's row (or the columns of its end) ready to be written: its script's text escaped. */
export function escapeRunRow<Row extends ScriptTextColumns>(row: Row): Row {
  const copy = { ...row };
  for (const column of scriptTextColumns) {
    const value = copy[column];
    if (typeof value === 'string') (copy as ScriptTextColumns)[column] = escapeNul(value);
  }
  return copy;
}

/** A run's row as read: its script's text as the script wrote it. */
export function unescapeRunRow<Row extends ScriptTextColumns>(row: Row): Row {
  const copy = { ...row };
  for (const column of scriptTextColumns) {
    const value = copy[column];
    if (typeof value === 'string') (copy as ScriptTextColumns)[column] = unescapeNul(value);
  }
  return copy;
}
