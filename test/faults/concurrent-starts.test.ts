/**
 * Fault injection: ten daemons started at the same moment on one data directory, with a
 * stale owner record left by a daemon killed earlier. Exactly one serves; the nine others
 * exit at once with a message naming the directory and the running daemon. After kill -9 of
 * the survivor, a new start succeeds at once: the lock is the kernel's, released with the
 * process, so nothing stale is left to clear. Nothing acknowledged is lost across it all.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();

describe('ten daemons started at once on one data directory', () => {
  test('exactly one serves; nine exit naming the directory and the running daemon; after kill -9 a new start succeeds at once', async () => {
    const dataDir = join(e2e.tempDir(), 'data');
    mkdirSync(dataDir, { recursive: true });
    // What a killed daemon of the old kind left: a pid file naming a live process (this one).
    writeFileSync(join(dataDir, 'daemon.pid'), `${process.pid}\n`);

    const daemons = Array.from({ length: 10 }, () => e2e.launchDaemon({ dataDir }));
    // Each one either serves or exits: wait until all ten have done one or the other.
    const settled = await waitFor('every daemon to serve or exit', () => {
      const states = daemons.map((daemon) => (daemon.exitStatus ? 'exited' : daemon.announcedUrl ? 'serving' : 'starting'));
      return states.every((state) => state !== 'starting') ? states : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });

    const serving = daemons.filter((_, index) => settled[index] === 'serving');
    const refused = daemons.filter((_, index) => settled[index] === 'exited');
    expect(serving).toHaveLength(1);
    expect(refused).toHaveLength(9);
    const survivor = serving[0]!;
    const url = survivor.announcedUrl!;
    for (const daemon of refused) {
      expect((await daemon.exit).code).not.toBe(0);
      expect(daemon.stderr).toContain(dataDir);
      expect(daemon.stderr).toMatch(new RegExp(`another scheduler daemon \\((pid ${survivor.child.pid}|just starting)`));
    }

    // Acknowledged by the survivor...
    const submitted = await fetch(`${url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'kept', type: 'cron', time: '1h', script: 'true' }),
    });
    expect(submitted.status).toBe(201);

    await survivor.kill();
    // ...and a new daemon starts at once on the same directory, with the task.
    const next = e2e.launchDaemon({ dataDir });
    const nextUrl = await next.listening(20_000);
    const kept = await fetch(`${nextUrl}/api/tasks/kept`);
    expect(kept.status).toBe(200);
    expect(await next.stop()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
