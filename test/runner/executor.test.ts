/**
 * The executor process (src/executor/scheduler-executor.c) through its daemon side
 * (runner/executor.ts), with real processes: what a child it spawns gets (its own session,
 * stdin from /dev/null, pipes for stdout and stderr, the gate on fd 3 and no other descriptor,
 * the environment and directory asked for, another user's identity), how spawn failures come
 * back (as node's would), output far larger than the pipes through the frames, and what
 * happens when the executor dies: its runs end lost, with what they printed until then and
 * their processes ended, and a new executor serves the next spawn.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor, executorBuilt } from '../../src/runner/executor.js';
import { HeldProcess, type SpawnedProcess } from '../../src/runner/held-process.js';
import { isProcessAlive, procStat } from '../support/processes.js';
import { itAsRoot } from '../support/root.js';
import { until, withDeadline } from '../support/wait.js';

let executor: Executor;
let dir: string;

beforeAll(() => {
  // `npm run build` (which `npm test` runs first) builds it: without it there is nothing to test.
  expect(executorBuilt(), 'the executor is built by npm run build (it needs cc)').toBe(true);
  executor = new Executor();
  dir = mkdtempSync(join(tmpdir(), 'scheduler-executor-test-'));
});

afterAll(async () => {
  await executor.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** Collects a child's output and how it ended (after 'close'). */
function ended(child: SpawnedProcess): Promise<Ended> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) =>
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }),
    );
  });
}

/** Spawns `script` under bash, with the gate opened at once (as a run released on spawn). */
function run(script: string, options: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number } = {}): SpawnedProcess {
  const child = executor.spawn('/bin/bash', ['-c', script], { env: options.env ?? { PATH: process.env.PATH }, cwd: options.cwd ?? dir, detached: true, ...options });
  return child;
}

function gateOf(child: SpawnedProcess): { end(bytes?: string): void } {
  return child.stdio[3] as { end(bytes?: string): void };
}

describe('Executor: what a child gets', () => {
  it('its own session and process group, stdin empty, stdout and stderr apart, the exit code, and no descriptor but 0 to 3', async () => {
    const child = run('read -r -u 3 go; read -r line; echo "stdin:${line:-empty}"; echo oops >&2; exit 7');
    const result = ended(child);
    await until(() => child.pid !== undefined && procStat(child.pid)?.state === 'S', 'the shell to wait at its gate');
    const pid = child.pid!;
    const sessionOf = (of: number) => Number(readFileSync(`/proc/${of}/stat`, 'utf8').slice(readFileSync(`/proc/${of}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ')[3]);
    expect({ pgid: procStat(pid)!.pgid, session: sessionOf(pid) }).toEqual({ pgid: pid, session: pid });
    expect(readdirSync(`/proc/${pid}/fd`).map(Number).sort()).toEqual([0, 1, 2, 3]);
    expect(readlinkSync(`/proc/${pid}/fd/0`)).toBe('/dev/null');
    gateOf(child).end('go\n');
    const { code, signal, stdout, stderr } = await withDeadline(result);
    expect(stdout.toString()).toBe('stdin:empty\n');
    expect(stderr.toString()).toBe('oops\n');
    expect({ code, signal }).toEqual({ code: 7, signal: null });
  });

  it('exactly the environment and working directory asked for; the gate is its fd 3', async () => {
    const child = run('read -r -u 3 word; echo "$word"; pwd; env | grep -v "^_=\\|^PWD=\\|^SHLVL=" | sort', { env: { B: 'two words', A: 'x=y', PATH: '/usr/bin:/bin' } });
    const result = ended(child);
    gateOf(child).end('hello\n');
    const { stdout, code } = await withDeadline(result);
    expect(code).toBe(0);
    expect(stdout.toString()).toBe(`hello\n${dir}\nA=x=y\nB=two words\nPATH=/usr/bin:/bin\n`);
  });

  it('a signal that ends it is told as node tells it, and its pid is signalled from the daemon', async () => {
    const child = run('echo ready; sleep 60');
    const result = ended(child);
    gateOf(child).end();
    child.stdout!.once('data', () => process.kill(-child.pid!, 'SIGTERM'));
    expect(await withDeadline(result)).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('says at the exit whether the run left processes in its group: nothing to end when it did not', async () => {
    const alone = run('true');
    const aloneEnded = ended(alone);
    gateOf(alone).end();
    await withDeadline(aloneEnded);
    expect(alone.groupEmptyAtExit).toBe(true);

    // A background process keeps the group alive after bash exits (its pid printed so the test can end it).
    const leaving = run('sleep 60 >/dev/null 2>&1 & echo $!');
    const leavingEnded = ended(leaving);
    gateOf(leaving).end();
    const result = await withDeadline(leavingEnded);
    expect(leaving.groupEmptyAtExit).toBe(false);
    expect(isProcessAlive(Number(result.stdout.toString().trim()))).toBe(true);
    process.kill(-leaving.pid!, 'SIGKILL');
  });

  it('gets the default signal dispositions back (the executor ignores INT, TERM, HUP and PIPE)', async () => {
    const child = run('grep -E "^Sig(Ign|Blk)" /proc/$$/status');
    const result = ended(child);
    gateOf(child).end();
    const { stdout } = await withDeadline(result);
    // Nothing ignored or blocked but what bash itself ignores (it ignores none of these four in a non-interactive shell).
    const ignored = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(stdout.toString())![1]}`);
    const blocked = BigInt(`0x${/SigBlk:\s*([0-9a-f]+)/.exec(stdout.toString())![1]}`);
    for (const signal of [1, 2, 13, 15]) expect((ignored >> BigInt(signal - 1)) & 1n).toBe(0n);
    expect(blocked).toBe(0n);
  });

  it('64 MiB of output, far more than a pipe holds, arrives whole and in order on each stream', async () => {
    // bash does not wait for the process substitution: sha256sum often prints after bash and
    // stdout have ended, which the next test is about.
    const child = run('head -c 67108864 /dev/urandom | tee >(sha256sum >&2)');
    const result = ended(child);
    gateOf(child).end();
    const { stdout, stderr, code } = await withDeadline(result, 60_000);
    expect(code).toBe(0);
    expect(stdout.length).toBe(64 << 20);
    expect(`${createHash('sha256').update(stdout).digest('hex')}  -\n`).toBe(stderr.toString());
  }, 90_000);

  it('output on one stream after the other has ended is not lost', async () => {
    // stdout ends at once; stderr goes on, from bash and from a process outliving it.
    const child = run('exec 1>&-; sleep 0.2; echo late >&2; (sleep 0.2; echo later >&2) &');
    const result = ended(child);
    gateOf(child).end();
    const { stdout, stderr, code } = await withDeadline(result);
    expect(code).toBe(0);
    expect(stdout.length).toBe(0);
    expect(stderr.toString()).toBe('late\nlater\n');
  });

  it('many children at once each get their own output and exit', async () => {
    const children = Array.from({ length: 100 }, (_, index) => {
      const child = run(`echo "child ${index}"; exit ${index % 7}`);
      const result = ended(child);
      gateOf(child).end();
      return result;
    });
    const results = await withDeadline(Promise.all(children), 30_000);
    results.forEach((result, index) => expect(result).toMatchObject({ code: index % 7, stdout: Buffer.from(`child ${index}\n`) }));
  });

  itAsRoot('runs as the user and group asked for, with no supplementary group', async () => {
    const child = run('id -u; id -g; id -G', { uid: 65534, gid: 65534, cwd: '/' });
    const result = ended(child);
    gateOf(child).end();
    const { stdout, code } = await withDeadline(result);
    expect(code).toBe(0);
    expect(stdout.toString()).toBe('65534\n65534\n65534\n');
  });
});

describe('Executor: a gate opened at a time (GATE_AT)', () => {
  /** The shell waits at its gate, then prints its clock in ms (bash reads it without forking). */
  const clockAfterGate = 'read -r -u 3 go && [ "$go" = go ] && echo "$EPOCHREALTIME"';
  const clockOf = (stdout: Buffer) => Number(stdout.toString().trim().replace(',', '.')) * 1000;
  const timedGateOf = (child: SpawnedProcess) => child.stdio[3] as { endAt(bytes: string, atMs: number): void };

  it('is written by the executor at that time, not before: each of several, given out of order', async () => {
    const children = [0, 1, 2].map(() => run(clockAfterGate));
    const results = children.map(ended);
    const base = Date.now() + 150;
    const times = [base + 300, base + 100, base + 200];
    children.forEach((child, index) => timedGateOf(child).endAt('go\n', times[index]!));
    const outcomes = await withDeadline(Promise.all(results));
    outcomes.forEach((outcome, index) => {
      expect(outcome.code).toBe(0);
      expect(clockOf(outcome.stdout)).toBeGreaterThanOrEqual(times[index]!);
    });
  });

  it('a time that has passed opens the gate at once', async () => {
    const child = run(clockAfterGate);
    const result = ended(child);
    const at = Date.now() - 60_000;
    timedGateOf(child).endAt('go\n', at);
    const { code, stdout } = await withDeadline(result);
    expect(code).toBe(0);
    expect(clockOf(stdout)).toBeGreaterThan(Date.now() - 30_000);
  });

  it('a process ended before its time never reads its gate, and the timer goes on for the others', async () => {
    const doomed = run(clockAfterGate);
    const doomedResult = ended(doomed);
    timedGateOf(doomed).endAt('go\n', Date.now() + 60_000);
    await until(() => doomed.pid !== undefined && procStat(doomed.pid)?.state === 'S', 'the shell to wait at its gate');
    process.kill(-doomed.pid!, 'SIGTERM');
    expect(await withDeadline(doomedResult)).toMatchObject({ code: null, signal: 'SIGTERM', stdout: Buffer.alloc(0) });

    const next = run(clockAfterGate);
    const nextResult = ended(next);
    const at = Date.now() + 100;
    timedGateOf(next).endAt('go\n', at);
    const { code, stdout } = await withDeadline(nextResult);
    expect(code).toBe(0);
    expect(clockOf(stdout)).toBeGreaterThanOrEqual(at);
  });
});

describe('Executor: spawn failures, as node reports them', () => {
  it('a working directory that does not exist: an ENOENT error and no pid', async () => {
    const child = run('echo never', { cwd: join(dir, 'missing') });
    const error = await withDeadline(new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve)));
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'spawn /bin/bash', path: '/bin/bash', errno: -2 });
    expect(child.pid).toBeUndefined();
  });

  it('a program that does not exist: ENOENT', async () => {
    const child = executor.spawn('/no/such/program', [], { cwd: dir, env: {} });
    const error = await withDeadline(new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve)));
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'spawn /no/such/program' });
  });

  it('a program that cannot be executed: EACCES', async () => {
    const file = join(dir, 'not-a-program');
    writeFileSync(file, 'text\n', { mode: 0o644 });
    const child = executor.spawn(file, [], { cwd: dir, env: {} });
    const error = await withDeadline(new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve)));
    expect(error).toMatchObject({ code: 'EACCES' });
  });

  it('an argument holding a NUL byte is thrown, before anything is sent', () => {
    expect(() => executor.spawn('/bin/bash', ['-c', 'echo a\0b'], { cwd: dir, env: {} })).toThrow(/NUL/);
  });
});

describe('Executor: when it dies', () => {
  it('its runs end as interrupted, with the output received until then, their processes ended; a new executor serves the next run', async () => {
    const own = new Executor();
    try {
      const first = own.pid!;
      const spool = mkdtempSync(join(dir, 'spool-'));
      const held = new HeldProcess({
        script: 'echo before; sleep 60; echo after',
        interpreter: null,
        spoolBase: join(spool, 'lost.1'),
        outputCap: 4096,
        killGraceMs: 200,
        cwd: dir,
        env: { PATH: process.env.PATH },
        now: Date.now,
        spawn: own.spawn,
      });
      const running = held.release();
      let before = false;
      running.listen((_stream, _offset, chunk) => (before ||= chunk.toString().includes('before')));
      await until(() => before, 'the run to print before');
      const pid = running.pid!;
      process.kill(first, 'SIGKILL');
      const result = await withDeadline(running.finished);
      expect(result).toMatchObject({
        outcome: 'interrupted',
        exitCode: null,
        signal: null,
        error: 'the executor process, which spawned and watched the run, died (killed by SIGKILL); its processes were ended',
        stdout: { text: 'before\n' },
      });
      expect(result.startedAt).not.toBeNull();
      await until(() => !isProcessAlive(pid) || procStat(pid)?.state === 'Z', 'the lost run to be ended');
      expect(own.restarts).toBe(1);

      await until(() => own.pid !== undefined && own.pid !== first, 'a new executor');
      const again = own.spawn('/bin/bash', ['-c', 'echo again'], { cwd: dir, env: {} });
      const next = ended(again);
      gateOf(again).end();
      expect((await withDeadline(next)).stdout.toString()).toBe('again\n');
    } finally {
      await own.close();
    }
  });

  it('what it wrote to the daemon before it died is kept: its runs are lost once its pipe is read to the end', async () => {
    // A stand-in executor: to the first spawn it answers "spawned" and exits at once, leaving
    // a process of its own that holds its stdout and writes an output frame 200 ms later,
    // as output still unread in the pipe would arrive after the exit. The run must be lost
    // once the pipe is read to its end ('close'), not at the exit.
    const fake = join(dir, 'dying-executor.mjs');
    writeFileSync(
      fake,
      `#!${process.execPath}
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
const frame = (type, id, payload) => {
  const header = Buffer.alloc(9);
  header.writeUInt32LE(5 + payload.length, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32LE(id, 5);
  return Buffer.concat([header, payload]);
};
if (process.argv[2] === 'late') {
  setTimeout(() => writeSync(1, frame(3, Number(process.argv[3]), Buffer.from('\\x01last words\\n', 'latin1'))), 200);
} else {
  process.stdin.once('data', (chunk) => {
    const id = chunk.readUInt32LE(5);
    const pid = Buffer.alloc(4);
    pid.writeUInt32LE(process.pid);
    writeSync(1, frame(1, id, pid));
    spawn(process.execPath, [process.argv[1], 'late', String(id)], { stdio: ['ignore', 'inherit', 'inherit'], detached: true }).unref();
    process.exit(3);
  });
}
`,
      { mode: 0o755 },
    );
    const own = new Executor({ program: fake });
    try {
      const child = own.spawn('/bin/bash', ['-c', 'true'], { cwd: dir, env: {} });
      const result = await withDeadline(ended(child));
      expect(result.stdout.toString()).toBe('last words\n');
      expect(child.lostReason).toBe('the executor process, which spawned and watched the run, died (exit code 3)');
    } finally {
      await own.close();
    }
  });

  it('close() ends it once the channel is closed; a spawn after that fails without a process', async () => {
    const own = new Executor();
    const pid = own.pid!;
    await own.close();
    expect(isProcessAlive(pid) && procStat(pid)?.state !== 'Z').toBe(false);
    const child = own.spawn('/bin/bash', ['-c', 'echo never'], { cwd: dir, env: {} });
    const error = await withDeadline(new Promise<Error>((resolve) => child.once('error', resolve)));
    expect(error.message).toMatch(/executor was shut down/);
  });
});
