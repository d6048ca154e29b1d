/** The version of this program, read from the nearest package.json above this file. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The same from src/ (under tests) and from dist/src/ (built). */
export function programVersion(): string {
  if (cached !== undefined) return cached;
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    try {
      cached = (JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { version: string }).version;
      return cached;
    } catch {
      // not here: look one level up
    }
  }
  return (cached = 'unknown');
}
