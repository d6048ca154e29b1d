/**
 * What this machine and this load generator can do at all: the same load against a bare
 * node:http server answering a constant body. Printed as context, not as a figure.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from '../load.js';
import { reapAtExit, release } from '../reaper.js';
import { cpuMeter } from '../proc-stats.js';
import { cpuPerRequestUs } from './cpu.js';

const connections = 50;
const measureSec = 4;

export interface Ceiling {
  getPerSec: number;
  postPerSec: number;
  /** The reference server's CPU per request, in microseconds. */
  getCpuUs: number;
  postCpuUs: number;
}

export async function httpCeiling(body: string): Promise<Ceiling> {
  const program = join(dirname(fileURLToPath(import.meta.url)), '..', 'hello-server.js');
  const child = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'inherit'] });
  reapAtExit(child);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the reference server did not start')), 10_000);
      child.stdout.setEncoding('utf8');
      child.stdout.once('data', (text: string) => {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      });
      child.once('exit', () => reject(new Error('the reference server exited')));
    });
    const url = `http://127.0.0.1:${port}`;
    await runLoad({ url, method: 'GET', path: '/', connections, durationSec: 1 });
    let cpu = cpuMeter(child.pid!);
    const get = await runLoad({ url, method: 'GET', path: '/', connections, durationSec: measureSec });
    const getCpuUs = cpuPerRequestUs(cpu(), get.reqPerSec);
    cpu = cpuMeter(child.pid!);
    const post = await runLoad({ url, method: 'POST', path: '/', body, connections, durationSec: measureSec });
    const postCpuUs = cpuPerRequestUs(cpu(), post.reqPerSec);
    return { getPerSec: get.reqPerSec, postPerSec: post.reqPerSec, getCpuUs, postCpuUs };
  } finally {
    child.kill('SIGTERM');
    release(child);
  }
}
