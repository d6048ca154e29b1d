/**
 * Where the benchmark's non-TypeScript files live. The compiled bench runs from
 * dist/bench/; the Lua script of wrk and the C reference stay in the source tree's bench/.
 */
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench/paths.js -> bench/ */
export const benchSourceDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');

/** The full path of `program` on PATH, or undefined when it is not installed. */
export function findProgram(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, program);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}
