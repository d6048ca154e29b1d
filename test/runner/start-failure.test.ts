/**
 * Runs that cannot start: each ends as one failed run, never started, saying why in plain
 * words, and the runner goes on starting runs.
 *
 * Out of file descriptors is real here: the test lowers the soft RLIMIT_NOFILE of its own
 * process (vitest runs each test file in a process of its own) with prlimit, fills what is
 * left with /dev/null, and lets node's spawn, and the spool, fail as they do in the daemon.
 * The failures that cannot be caused on demand (a fork refused for want of memory or of a
 * process slot) are injected through the runner's spawn option, shaped as node reports
 * them: thrown (ENOMEM) or, for the codes node reports later, an 'error' event on a child
 * that never existed (EAGAIN).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProcessRunner, type ProcessRunnerOptions } from '../../src/runner/process-runner.js';
import { RunWorkspace } from '../../src/runner/run-workspace.js';
import { describeStartFailure } from '../../src/runner/start-failure.js';
import type { SpawnFunction } from '../../src/runner/held-process.js';
import { withDeadline } from '../support/wait.js';

const daemonId = `start-failure-test-${randomUUID()}`;

let root: string;
let spoolDir: string;
let cwd: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scheduler-start-failure-test-'));
  spoolDir = join(root, 'spool');
  cwd = join(root, 'cwd');
  mkdirSync(cwd);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const runners: ProcessRunner[] = [];
afterEach(() => {
  for (const runner of runners.splice(0)) runner.discardPrepared();
});

function makeRunner(overrides: Partial<ProcessRunnerOptions> = {}): { runner: ProcessRunner; warnings: object[] } {
  const warnings: object[] = [];
  const runner = new ProcessRunner({
    spoolDir,
    outputCap: 64 * 1024,
    killGraceMs: 200,
    cwd,
    daemonEnv: process.env,
    workRoot: join(root, 'runs'),
    now: () => Date.now(),
    daemonId,
    log: { warn: (details) => warnings.push(details) },
    ...overrides,
  });
  runners.push(runner);
  return { runner, warnings };
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Leaves this process no free file descriptor: lowers its soft limit to a little above what
 * it uses (the hard limit is left alone, so the soft one can be raised again by any user),
 * then opens /dev/null until the kernel says EMFILE. Returns what gives them back.
 */
function exhaustDescriptors(): () => void {
  const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  if (soft === undefined) throw new Error('cannot read the open-file limit of this process from /proc/self/limits');
  const lowered = openDescriptors() + 32;
  const set = (limit: string) => {
    const done = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:`], { encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`prlimit (util-linux) failed: ${done.error?.message ?? done.stderr}`);
  };
  set(String(lowered));
  const fillers: number[] = [];
  try {
    for (;;) fillers.push(openSync('/dev/null', 'r'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EMFILE') throw error;
  }
  return () => {
    for (const fd of fillers.splice(0)) closeSync(fd);
    set(soft);
  };
}

/** Runs `body` with no file descriptor free, giving them back whatever happens. */
async function withoutDescriptors<T>(body: () => Promise<T>): Promise<T> {
  const giveBack = exhaustDescriptors();
  try {
    return await body();
  } finally {
    giveBack();
  }
}

/** An error as node's spawn reports one. */
function spawnError(code: string, errno: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`spawn /bin/bash ${code}`), { code, errno, syscall: 'spawn /bin/bash', path: '/bin/bash' });
}

/**
 * A spawn that fails as node's does for the codes it reports after returning (EACCES, EAGAIN,
 * ENOENT): the child it returns never existed (no pid), has its pipes, and emits 'error',
 * then 'close'. It is made by really spawning a program that does not exist, which fails in
 * exactly that way with ENOENT; only the code of the error is then `code`.
 */
function failingLater(code: string, errno: number): SpawnFunction {
  return ((_command: string, args: readonly string[], options: object) => {
    const child = spawn('/nonexistent/bash', args, options) as ChildProcess;
    const emit = child.emit.bind(child);
    child.emit = ((event: string, ...rest: unknown[]) => (event === 'error' ? emit('error', spawnError(code, errno)) : emit(event, ...rest))) as ChildProcess['emit'];
    return child;
  }) as SpawnFunction;
}

/** A spawn that throws, as node's does for the codes it does not report later (ENOMEM, EPERM...). */
function throwing(code: string, errno: number): SpawnFunction {
  return (() => {
    throw Object.assign(new Error(`spawn ${code}`), { code, errno, syscall: 'spawn' });
  }) as unknown as SpawnFunction;
}

/** Fails the first `failures` spawns with `failing`, then spawns for real. */
function failingFirst(failures: number, failing: SpawnFunction): { spawn: SpawnFunction; calls: () => number } {
  let calls = 0;
  const wrapped = ((...args: Parameters<typeof spawn>) => {
    calls++;
    return calls <= failures ? failing(...args) : spawn(...args);
  }) as SpawnFunction;
  return { spawn: wrapped, calls: () => calls };
}

const neverStarted = { outcome: 'failed', startedAt: null, exitCode: null, signal: null, stdout: { text: '', totalBytes: 0 } };

describe('describeStartFailure: plain words for why a run could not start', () => {
  it.each([
    ['EMFILE', 'could not start: too many open files (EMFILE)'],
    ['ENFILE', 'could not start: too many open files in the system (ENFILE)'],
    ['EAGAIN', 'could not start: resource temporarily unavailable (the process limit may be reached) (EAGAIN)'],
    ['ENOMEM', 'could not start: out of memory (ENOMEM)'],
    ['EACCES', 'could not start: permission denied on /bin/bash (EACCES)'],
    ['ENOENT', 'could not start: the shell /bin/bash was not found (ENOENT)'],
  ])('%s', (code, message) => {
    expect(describeStartFailure(spawnError(code, -1), '/')).toBe(message);
  });

  it('a missing working directory is named as such, not as a missing shell', () => {
    expect(describeStartFailure(spawnError('ENOENT', -2), '/no/such/dir')).toBe('could not start: the working directory /no/such/dir does not exist');
  });

  it('an error without an errno code keeps its own message', () => {
    expect(describeStartFailure(new Error('the language "catlang" is not configured on this daemon'))).toBe(
      'could not start: the language "catlang" is not configured on this daemon',
    );
  });
});

describe('ProcessRunner: out of file descriptors (a real EMFILE)', () => {
  it('a run started with no descriptor free fails with the reason, and the next run, once they are free, succeeds', async () => {
    const { runner, warnings } = makeRunner();
    const before = openDescriptors();
    const failed = await withoutDescriptors(async () => {
      const running = runner.start({ taskId: 'emfile', run: 1, script: 'echo never', timeoutMs: 3_600_000 });
      expect(running.pid).toBeUndefined();
      return withDeadline(running.finished);
    });
    expect(failed).toMatchObject({ ...neverStarted, error: 'could not start: too many open files (EMFILE)' });
    expect(warnings).toEqual([{ task: 'emfile', run: 1, reason: 'could not start: too many open files (EMFILE)' }]);
    // Nothing of the failed start is left open.
    expect(openDescriptors()).toBe(before);

    const later = await withDeadline(runner.start({ taskId: 'emfile', run: 2, script: 'echo fine' }).finished);
    expect(later).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: 'fine\n' } });
    expect(later.startedAt).not.toBeNull();
  });

  it('a run prepared with no descriptor free is dropped, and starts cold once they are free', async () => {
    const { runner } = makeRunner();
    const spec = { taskId: 'emfile-prepared', run: 1, script: 'echo warm or cold' };
    await withoutDescriptors(async () => {
      await expect(runner.prepare(spec)).resolves.toBeUndefined(); // refuses nothing and keeps no process that never existed
    });
    const result = await withDeadline(runner.start(spec).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'warm or cold\n' } });
  });

  it('a long script, whose file cannot be written without a descriptor, fails with the reason and leaves no file', async () => {
    const { runner } = makeRunner();
    const script = `# ${'x'.repeat(120 * 1024)}\necho long`;
    const result = await withoutDescriptors(() => withDeadline(runner.start({ taskId: 'emfile-long', run: 1, script }).finished));
    expect(result).toMatchObject({ ...neverStarted, error: 'could not start: too many open files (EMFILE)' });
    expect(readdirSync(spoolDir).filter((name) => name.startsWith('emfile-long.'))).toEqual([]);
  });

  it('output that cannot be spooled (no descriptor for the spool file) is still captured, and the run ends as it really did', async () => {
    const { runner } = makeRunner();
    const go = join(root, 'go-spool');
    const before = openDescriptors();
    // mkdir needs no descriptor: the test can tell the script to go while none is free.
    const running = runner.start({ taskId: 'emfile-spool', run: 1, script: `while [ ! -d '${go}' ]; do sleep 0.02; done; echo captured` });
    // Once released, the run holds two descriptors of the daemon's, its stdout and stderr
    // pipes; the gate's is closed a moment later, and must not be the one the spool gets.
    await vi.waitFor(() => expect(openDescriptors()).toBe(before + 2), { timeout: 10_000, interval: 10 });
    const result = await withoutDescriptors(async () => {
      mkdirSync(go);
      return withDeadline(running.finished);
    });
    // Whether the spool got a descriptor is not asserted: the test process (vitest's worker)
    // may close one of its own meanwhile. What must hold either way: no crash, and the output.
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: 'captured\n', totalBytes: 9 } });
  });

  it('a workspace that cannot be removed for want of descriptors is removed once they are free', async () => {
    const workRoot = join(root, 'workspaces');
    const workspace = RunWorkspace.create(workRoot, 'emfile-workspace', 1);
    workspace.makeScratch();
    await withoutDescriptors(async () => {
      workspace.remove(); // reading the directory fails: it must not throw, and must try again
      expect(existsSync(workspace.dir)).toBe(true);
    });
    await vi.waitFor(() => expect(existsSync(workspace.dir)).toBe(false), { timeout: 10_000, interval: 50 });
  });
});

describe('ProcessRunner: spawn refused by the system (injected)', () => {
  it('a spawn that throws (ENOMEM) ends the run as failed with the reason; the runner does not throw', async () => {
    const { runner, warnings } = makeRunner({ spawn: throwing('ENOMEM', -12) });
    const script = `# ${'x'.repeat(120 * 1024)}\necho long`; // through a script file, which must not be left behind
    const running = runner.start({ taskId: 'enomem', run: 1, script });
    expect(running.pid).toBeUndefined();
    expect(await withDeadline(running.finished)).toMatchObject({ ...neverStarted, error: 'could not start: out of memory (ENOMEM)' });
    expect(await running.kill()).toMatchObject({ outcome: 'failed' });
    expect(readdirSync(spoolDir).filter((name) => name.startsWith('enomem.'))).toEqual([]);
    expect(warnings).toHaveLength(1);
  });

  it('a spawn that fails later (EAGAIN, an error event) ends the run as failed with the reason, once', async () => {
    const { runner } = makeRunner({ spawn: failingLater('EAGAIN', -11) });
    const running = runner.start({ taskId: 'eagain', run: 1, script: 'echo never', timeoutMs: 3_600_000 });
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ ...neverStarted, error: 'could not start: resource temporarily unavailable (the process limit may be reached) (EAGAIN)' });
    expect(await running.kill()).toBe(result);
  });

  it('a prepared process that failed to start is not released: the run starts cold', async () => {
    const spawns = failingFirst(1, failingLater('EMFILE', -24));
    const { runner } = makeRunner({ spawn: spawns.spawn });
    const spec = { taskId: 'prepared-fails', run: 1, script: 'echo cold start' };
    runner.prepare(spec);
    const result = await withDeadline(runner.start(spec).finished);
    expect(spawns.calls()).toBe(2);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'cold start\n' } });
  });

  it('a prepare whose spawn throws (ENOMEM) is refused to its caller, keeps nothing, and the run starts cold', async () => {
    const spawns = failingFirst(1, throwing('ENOMEM', -12));
    const { runner } = makeRunner({ spawn: spawns.spawn });
    const spec = { taskId: 'prepare-throws', run: 1, script: 'echo cold start' };
    await expect(runner.prepare(spec)).rejects.toThrow(/ENOMEM/);
    const result = await withDeadline(runner.start(spec).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'cold start\n' } });
  });
});
