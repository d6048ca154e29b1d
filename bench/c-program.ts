/**
 * The bench's C programs (reference/spawn-loop.c, sse-fanout.c): each is compiled with the
 * machine's `cc -O2` into a temporary directory (removed at exit) the first time it is
 * needed. Without `cc` the figures that need one say so; the bench installs nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { benchSourceDir, findProgram } from './paths.js';
import { reapAtExit, release } from './reaper.js';

const compiled = new Map<string, Promise<string>>();
let outputDir: string | undefined;

/** Why the C programs cannot be built here, or undefined when `cc` is there. */
export function ccMissing(): string | undefined {
  return findProgram('cc') ? undefined : 'no C compiler: `cc` is not on PATH (on Debian: apt-get install gcc)';
}

/** The path of the program compiled from `source` (relative to bench/, e.g. 'sse-fanout.c'), compiled once. */
export function compileC(source: string): Promise<string> {
  let program = compiled.get(source);
  if (!program) compiled.set(source, (program = compile(source)));
  return program;
}

async function compile(source: string): Promise<string> {
  if (outputDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-bench-c-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    outputDir = dir;
  }
  const program = join(outputDir, basename(source, '.c'));
  await runProgram('cc', ['-O2', '-o', program, join(benchSourceDir, source)], 60_000);
  return program;
}

/** Runs `file` to its end (killed after `timeoutMs`, or when the bench exits) and gives its stdout. */
export function runProgram(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      release(child);
      if (error) reject(new Error(`${file}: ${error.message} ${stderr}`.trim()));
      else resolve(stdout);
    });
    reapAtExit(child);
  });
}
