/**
 * Ten daemons started at once on one data directory: exactly one serves, the nine others
 * exit non-zero naming the directory and the daemon that holds it. After kill -9 of the
 * survivor a new daemon starts at once (the kernel released the lock), with every task the
 * survivor acknowledged.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cliPath, ok, parseJson, runCli, useE2e, waitFor, type TaskView } from '../e2e/harness.js';

const e2e = useE2e();

interface Started {
  pid: number;
  out: string;
  err: string;
  exit?: number | null;
  kill(): void;
}

function startRaw(dataDir: string): Started {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.SCHEDULER_TOKEN;
  const child = spawn(process.execPath, [cliPath, 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started: Started = { pid: child.pid!, out: '', err: '', kill: () => child.kill('SIGKILL') };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (started.out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (started.err += chunk));
  child.on('exit', (code) => (started.exit = code));
  return started;
}

describe('concurrent starts on one data directory', () => {
  test('leave exactly one daemon; after kill -9 of it a new one starts at once with every acknowledged task', async () => {
    const dataDir = join(e2e.tempDir(), 'data');
    const daemons = Array.from({ length: 10 }, () => startRaw(dataDir));
    try {
      const listening = (d: Started) => /listening on (http:\/\/\S+)/.exec(d.out)?.[1];
      await waitFor('every daemon to either listen or exit', () => daemons.every((d) => d.exit !== undefined || listening(d)), {
        timeoutMs: 90_000, // ten Node processes starting at once on two busy cores
        describe: () => daemons.map((d) => ({ exit: d.exit, out: d.out, err: d.err })),
      });
      const survivors = daemons.filter((d) => d.exit === undefined);
      expect(survivors, JSON.stringify(daemons.map((d) => ({ exit: d.exit, err: d.err })))).toHaveLength(1);
      const survivor = survivors[0]!;
      const url = listening(survivor)!;
      for (const refused of daemons.filter((d) => d !== survivor)) {
        expect(refused.exit).not.toBe(0);
        expect(refused.err).toContain(`the data directory ${dataDir}`);
        expect(refused.err).toContain(`pid ${survivor.pid}`);
        expect(refused.err).not.toMatch(/\n\s+at /); // a message, not a stack trace
      }

      // What the survivor acknowledges outlives it.
      const env = { SCHEDULER_URL: url };
      const acknowledged: string[] = [];
      for (let index = 0; index < 5; index++) {
        ok(await runCli(['submit', `kept-${index}`, '-type=delay', '-time=1h', '-script=true'], { env }), 'submit');
        acknowledged.push(`kept-${index}`);
      }
      survivor.kill();
      await waitFor('the survivor to be gone', () => survivor.exit !== undefined);

      // No stale lock to wait out.
      const next = await e2e.startDaemon({ dataDir, startTimeoutMs: 30_000 });
      const listed = parseJson<TaskView[]>(ok(await next.cli(['list', '--json']), 'list')).map((task) => task.id);
      expect(listed).toEqual(acknowledged);
    } finally {
      for (const d of daemons) if (d.exit === undefined) d.kill();
    }
  }, 150_000);
});
