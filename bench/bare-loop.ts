/** Runs bare-spawn.js in its own Node process and returns the lateness of each run, in ms. */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapAtExit, release } from './reaper.js';

export async function bareLateness(mode: 'burst' | 'sequential', count: number, script: string): Promise<number[]> {
  const program = join(dirname(fileURLToPath(import.meta.url)), 'bare-spawn.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [program, mode, String(count), script], { timeout: 100_000, maxBuffer: 16 * 1024 * 1024 }, (error, out) => {
      release(child);
      if (error) reject(error);
      else resolve(out);
    });
    reapAtExit(child);
  });
  const { late } = JSON.parse(stdout) as { late: (number | null)[] };
  return late.filter((value): value is number => value !== null);
}
