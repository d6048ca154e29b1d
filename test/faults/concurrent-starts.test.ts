/**
 * Fault injection: ten daemons started at the same moment on one data directory, with a
 * stale owner record left by a daemon killed earlier. Exactly one serves; the nine others
 * exit at once with a message naming the directory and the running daemon. After kill -9 of
 * the survivor, a new start succeeds at once: the lock is the kernel's, released with the
 * process, so nothing stale is left to clear. Nothing acknowledged is lost across it all.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cliPath, useE2e, waitFor } from '../e2e/harness.js';

const e2e = useE2e();
const all: Started[] = [];
// Whatever the test's outcome, no daemon outlives it.
afterAll(() => {
  for (const daemon of all) daemon.kill('SIGKILL');
});

interface Started {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
}

function startDaemon(dataDir: string): Started {
  const child = spawn(process.execPath, [cliPath, 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SCHEDULER_TOKEN: '' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started: Started = { pid: child.pid!, stdout: () => out, stderr: () => err, exit, kill: (signal) => child.kill(signal) };
  all.push(started);
  return started;
}

const listening = (daemon: Started) => /listening on (http:\S+)/.exec(daemon.stdout())?.[1];

describe('ten daemons started at once on one data directory', () => {
  test('exactly one serves; nine exit naming the directory and the running daemon; after kill -9 a new start succeeds at once', async () => {
    const dataDir = join(e2e.tempDir(), 'data');
    mkdirSync(dataDir, { recursive: true });
    // What a killed daemon of the old kind left: a pid file naming a live process (this one).
    writeFileSync(join(dataDir, 'daemon.pid'), `${process.pid}\n`);

    const daemons = Array.from({ length: 10 }, () => startDaemon(dataDir));
    // Each one either serves or exits: wait until all ten have done one or the other.
    const settled = await waitFor('every daemon to serve or exit', async () => {
      const states = await Promise.all(daemons.map(async (daemon) => {
        const code = await Promise.race([daemon.exit, new Promise<'running'>((resolve) => setImmediate(() => resolve('running')))]);
        return code === 'running' ? (listening(daemon) ? 'serving' : 'starting') : 'exited';
      }));
      return states.every((state) => state !== 'starting') ? states : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    const serving = daemons.filter((_, index) => settled[index] === 'serving');
    const refused = daemons.filter((_, index) => settled[index] === 'exited');
    expect(serving).toHaveLength(1);
    expect(refused).toHaveLength(9);
    const survivor = serving[0]!;
    const url = listening(survivor)!;
    for (const daemon of refused) {
      expect(await daemon.exit).not.toBe(0);
      expect(daemon.stderr()).toContain(dataDir);
      expect(daemon.stderr()).toMatch(new RegExp(`another scheduler daemon \\((pid ${survivor.pid}|just starting)`));
    }

    // Acknowledged by the survivor...
    const submitted = await fetch(`${url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'kept', type: 'cron', time: '1h', script: 'true' }),
    });
    expect(submitted.status).toBe(201);

    survivor.kill('SIGKILL');
    await survivor.exit;
    // ...and a new daemon starts at once on the same directory, with the task.
    const next = startDaemon(dataDir);
    const nextUrl = await waitFor('the new daemon to serve', () => listening(next), { timeoutMs: 20_000 });
    const kept = await fetch(`${nextUrl}/api/tasks/kept`);
    expect(kept.status).toBe(200);
    next.kill('SIGTERM');
    expect(await next.exit).toBe(0);
  }, 120_000);
});
