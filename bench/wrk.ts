/**
 * HTTP load from wrk (Debian package `wrk`), run as a child process against 127.0.0.1 only.
 * The bench installs nothing: when wrk is missing, the HTTP figures are skipped with how to
 * install it. GET requests are wrk's own; POSTs of new tasks come from bench/submit.lua.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { assertLoopback } from './api.js';
import { benchSourceDir, findProgram } from './paths.js';
import { reapAtExit, release } from './reaper.js';

export const wrkConnections = 32;

export interface WrkLoad {
  url: string;
  /** GET `path`, or POST a new task to /api/tasks per request (ids start with `idPrefix`). */
  request: { method: 'GET'; path: string } | { method: 'POST'; idPrefix: string };
  durationSec: number;
  connections?: number;
}

export interface WrkResult {
  requests: number;
  /** How long the load ran, as wrk measured it. */
  seconds: number;
  reqPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Answers other than 2xx and 3xx. */
  non2xx: number;
  /** connect, read, write errors and timeouts, added up. */
  socketErrors: number;
}

/** Why the HTTP figures cannot run here, or undefined when wrk is installed. */
export function wrkMissing(): string | undefined {
  return findProgram('wrk') ? undefined : 'wrk is not installed (on Debian or Ubuntu: apt-get install wrk)';
}

export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  assertLoopback(load.url);
  const connections = load.connections ?? wrkConnections;
  // One wrk thread: the machine's other cores are for the server measured.
  const args = ['-t1', `-c${connections}`, `-d${load.durationSec}s`, '--latency', '--timeout', '10s'];
  if (load.request.method === 'GET') args.push(`${load.url}${load.request.path}`);
  else args.push('-s', join(benchSourceDir, 'submit.lua'), load.url, '--', load.request.idPrefix);
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile('wrk', args, { timeout: (load.durationSec + 30) * 1000 }, (error, stdout, stderr) => {
      release(child);
      if (error) reject(new Error(`wrk ${args.join(' ')}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
    reapAtExit(child);
  });
  return parseWrk(output);
}

function parseWrk(output: string): WrkResult {
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? Number.NaN);
  const latency = (percent: string) => {
    const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
    if (!match) return Number.NaN;
    const scale = { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
    return Number(match[1]) * scale;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const took = /\d+ requests in ([\d.]+)(ms|s|m)\b/.exec(output);
  const result = {
    requests: number(/(\d+) requests in/),
    seconds: took ? Number(took[1]) * { ms: 0.001, s: 1, m: 60 }[took[2] as 'ms' | 's' | 'm'] : Number.NaN,
    reqPerSec: number(/Requests\/sec:\s+([\d.]+)/),
    latencyP50Ms: latency('50'),
    latencyP99Ms: latency('99'),
    non2xx: /Non-2xx or 3xx responses: (\d+)/.exec(output) ? number(/Non-2xx or 3xx responses: (\d+)/) : 0,
    socketErrors: socket ? socket.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0,
  };
  if (Number.isNaN(result.reqPerSec)) throw new Error(`could not read wrk's output:\n${output}`);
  return result;
}
