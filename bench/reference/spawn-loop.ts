/**
 * The burst reference: spawn-loop.c, compiled with the machine's `cc` into a temporary
 * directory the first time it is needed, spawns the same scripts as the daemon from a tight
 * posix_spawn loop. Without `cc` the reference is skipped, and the figure says why.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSourceDir, findProgram } from '../paths.js';
import { reapAtExit, release } from '../reaper.js';

let compiled: Promise<string> | undefined;

/** Why the C reference cannot run here, or undefined when `cc` is there. */
export function spawnLoopMissing(): string | undefined {
  return findProgram('cc') ? undefined : 'no C compiler: `cc` is not on PATH (on Debian: apt-get install gcc)';
}

/**
 * Per script, its clock minus the moment the loop started, in ms (scripts that printed no
 * clock left out); with `cap`, at most that many scripts run at once (spawn-loop.c).
 */
export async function spawnLoopLateness(count: number, script: string, cap?: number): Promise<number[]> {
  const program = await (compiled ??= compile());
  const stdout = await run(program, [String(count), script, ...(cap === undefined ? [] : [String(cap)])], 120_000);
  const { late } = JSON.parse(stdout) as { late: (number | null)[] };
  return late.filter((value): value is number => value !== null);
}

async function compile(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-bench-c-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const program = join(dir, 'spawn-loop');
  await run('cc', ['-O2', '-o', program, join(benchSourceDir, 'reference', 'spawn-loop.c')], 60_000);
  return program;
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      release(child);
      if (error) reject(new Error(`${file}: ${error.message} ${stderr}`.trim()));
      else resolve(stdout);
    });
    reapAtExit(child);
  });
}
