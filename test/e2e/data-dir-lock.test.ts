/**
 * The lock of a data directory (src/daemon/data-dir.ts) between real processes: the lock another
 * process holds is refused at once, naming the directory and the holder; the kernel frees
 * it the moment its holder is killed with -9; a record naming a pid that is alive but not
 * the holder (a reused pid) does not block. The other process runs the built module.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { lockDataDir, type DataDirLock } from '../../src/daemon/data-dir.js';
import { repoRoot } from '../support/cli.js';
import { waitFor } from '../support/wait.js';

const builtModule = pathToFileURL(join(repoRoot, 'dist', 'src', 'daemon', 'data-dir.js')).href;

let dir: string;
const held: DataDirLock[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scheduler-lock-'));
});
afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
  rmSync(dir, { recursive: true, force: true });
});

/** Another process that takes the lock of `dir` and says so, then holds it until killed. */
function holder(address: string) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { lockDataDir } = await import(${JSON.stringify(builtModule)});
       try { const lock = await lockDataDir(process.argv[1]); lock.announce(process.argv[2]); console.log('locked'); setInterval(() => {}, 60000); }
       catch (error) { console.log('refused: ' + error.message); process.exit(9); }`,
      dir,
      address,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function refusalOf(promise: Promise<unknown>): Promise<SchedulerError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(SchedulerError);
  return error as SchedulerError;
}

describe('the data-directory lock', () => {
  it('is refused while another process holds it, and free the moment that process is killed -9', async () => {
    const other = holder('http://127.0.0.1:4242');
    try {
      await waitFor('the other process to take the lock', () => other.out().includes('locked'), { describe: other.out });
      const refused = await refusalOf(lockDataDir(dir));
      expect(refused.message).toContain(dir);
      expect(refused.message).toContain(`pid ${other.child.pid}`);
      expect(refused.message).toContain('http://127.0.0.1:4242');

      other.child.kill('SIGKILL');
      await other.exited;
      // No stale lock to wait out: the kernel dropped it with the process.
      held.push(await lockDataDir(dir));
    } finally {
      other.child.kill('SIGKILL');
    }
  });

  it('held here, another process is refused and exits', async () => {
    const lock = await lockDataDir(dir);
    held.push(lock);
    lock.announce('http://127.0.0.1:5151');
    const other = holder('unused');
    expect(await other.exited).toBe(9);
    expect(other.out()).toContain(`refused: another scheduler daemon (pid ${process.pid}, listening on http://127.0.0.1:5151) is using the data directory ${dir}`);
    lock.release();
    held.splice(0);
    const again = await lockDataDir(dir); // released cleanly: free again
    held.push(again);
  });

  it('is not blocked by a record naming a live process that does not hold the lock (a reused pid)', async () => {
    // pid 1 is alive, and is no scheduler daemon.
    writeFileSync(join(dir, 'daemon.owner'), `${JSON.stringify({ pid: 1, address: 'http://127.0.0.1:1' })}\n`);
    held.push(await lockDataDir(dir));
  });
});
