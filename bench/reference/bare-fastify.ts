/** Starts and stops the bare Fastify reference (fastify-server.ts) as a child process. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { programNodeFlags } from '../daemon-process.js';
import { reapAtExit, release } from '../reaper.js';
import type { ReferenceAnswers } from './fastify-server.js';

export interface BareFastify {
  url: string;
  pid: number;
  stop(): void;
}

/** Starts the reference with the daemon's node flags, so that both run on the same settings. */
export async function startBareFastify(answers: ReferenceAnswers): Promise<BareFastify> {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-bench-fastify-'));
  const answersPath = join(dir, 'answers.json');
  writeFileSync(answersPath, JSON.stringify(answers));
  const program = join(dirname(fileURLToPath(import.meta.url)), 'fastify-server.js');
  const child = spawn(process.execPath, [...programNodeFlags, program, answersPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  reapAtExit(child, cleanup);
  const stop = () => {
    child.kill('SIGTERM');
    cleanup();
    release(child);
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the bare Fastify server did not start within 15 s')), 15_000);
      child.stdout.setEncoding('utf8');
      child.stdout.once('data', (text: string) => {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      });
      child.once('exit', (code) => reject(new Error(`the bare Fastify server exited (code ${code})`)));
    });
    return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
