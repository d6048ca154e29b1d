/**
 * Resource limits with real processes: rlimits set by the ulimit prefix in a real bash, and
 * RunWatch sampling /proc for real process groups. Nothing sleeps to synchronise: every wait
 * polls a condition (a process exits, a line is printed, the watch has sampled) with a
 * deadline. Each test's processes are started in process groups of their own (detached,
 * as runs are) and their groups are killed when the test ends.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ResourceLimitName, ResourceLimits } from '../../src/core/execution.js';
import { describeLimit, limitFromExit, ulimitFailedStatus, ulimitPrefix } from '../../src/runner/resource-limits.js';
import { parseProcStat } from '../../src/runner/proc-scan.js';
import { needsWatch, RunWatch } from '../../src/runner/run-watch.js';
import { until, withDeadline } from '../support/wait.js';

const MiB = 1024 * 1024;
/** Deadlines only matter when a test fails: generous, for a loaded machine. */
const deadlineMs = 20_000;
/** Watches in this file sample faster than the default, to keep it quick. */
const intervalMs = 50;

let root: string;
/**
 * python3 itself, not a wrapper on the PATH (pyenv's shim is a bash script that starts more
 * processes, which the process counts here would see).
 */
let python: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scheduler-limits-test-'));
  python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Group {
  child: ChildProcess;
  pgid: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Registers cleanup for the end of the test: a concurrent test must pass its context's own. */
type OnFinished = (cleanup: () => void) => void;

/**
 * Starts `bash -c script` in a process group of its own, as a run's gate shell is; its group
 * is killed when the test ends.
 */
function startGroup(script: string, options: { stdin?: boolean; onFinished?: OnFinished } = {}): Group {
  const child = spawn('/bin/bash', ['-c', script], { detached: true, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error('bash did not start');
  (options.onFinished ?? onTestFinished)(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, pgid, stdout: () => out, stderr: () => err, exited };
}

/** A watch stopped when the test ends. */
function watch(pgid: number, limits: ResourceLimits, onFinished: OnFinished = onTestFinished): { watch: RunWatch; hits: Array<[ResourceLimitName, string]> } {
  const hits: Array<[ResourceLimitName, string]> = [];
  const w = new RunWatch({ pgid, limits, intervalMs, onLimit: (name, detail) => hits.push([name, detail]) });
  onFinished(() => w.stop());
  return { watch: w, hits };
}

/** Waits until the watch has taken `n` more samples than it had. */
async function moreSamples(w: RunWatch, n: number): Promise<void> {
  const target = w.samples + n;
  await until(() => w.samples >= target, `${n} more samples`, { timeoutMs: deadlineMs, intervalMs: 10 });
}

/** A python process that holds `mib` MiB resident (written, so really resident), says "ready", then sleeps. */
const holdMemory = (mib: number) => `${python} -c "import time; b = b'x' * (${mib} << 20); print('ready', flush=True); time.sleep(60)"`;

/** The zombies of a process group, straight from /proc. */
function zombiesIn(pgid: number): number {
  let zombies = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'latin1'));
      if (stat?.pgid === pgid && stat.state === 'Z') zombies++;
    } catch {
      // gone
    }
  }
  return zombies;
}

const count = (text: string, word: string) => text.split('\n').filter((line) => line === word).length;

describe('ulimitPrefix', () => {
  it('is empty without CPU or open files limits', () => {
    expect(ulimitPrefix({})).toBe('');
    expect(ulimitPrefix({ memoryBytes: MiB, processes: 5, outputBytes: MiB })).toBe('');
  });

  it('sets the CPU limits hard then soft, and open files both at once', () => {
    expect(ulimitPrefix({ cpuSeconds: 10, openFiles: 64 })).toBe(`ulimit -t 11 && ulimit -S -t 10 && ulimit -c 0 && ulimit -n 64 || exit ${ulimitFailedStatus}; `);
    expect(ulimitPrefix({ cpuSeconds: 1 })).toBe('ulimit -t 2 && ulimit -S -t 1 && ulimit -c 0 || exit 126; ');
    expect(ulimitPrefix({ openFiles: 16 })).toBe('ulimit -n 16 || exit 126; ');
  });

  it('refuses what is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => ulimitPrefix({ cpuSeconds: bad })).toThrow(RangeError);
      expect(() => ulimitPrefix({ openFiles: bad })).toThrow(RangeError);
    }
  });

  it('sets the limits the script sees, and the script runs as it would without them', async () => {
    const script = "grep -E '^Max (cpu time|open files)' /proc/self/limits\necho line2\n# a comment at the end";
    const group = startGroup(ulimitPrefix({ cpuSeconds: 3, openFiles: 32 }) + script);
    expect(await withDeadline(group.exited, deadlineMs, 'the script')).toEqual({ code: 0, signal: null });
    expect(group.stdout()).toMatch(/^Max cpu time\s+3\s+4\s+seconds\s*$/m);
    expect(group.stdout()).toMatch(/^Max open files\s+32\s+32\s+files\s*$/m);
    expect(group.stdout()).toMatch(/^line2$/m);
  });

  it('works before an empty script or one that is only a comment', async () => {
    for (const script of ['', '# nothing', '#!/bin/bash\n']) {
      const group = startGroup(ulimitPrefix({ cpuSeconds: 5, openFiles: 64 }) + script);
      expect(await withDeadline(group.exited, deadlineMs, 'the script')).toEqual({ code: 0, signal: null });
      expect(group.stderr()).toBe('');
    }
  });

  it('runs no line of the script when a limit cannot be set', async () => {
    // More open files than fs.nr_open allows: refused even to root.
    const group = startGroup(ulimitPrefix({ openFiles: 2 ** 40 }) + 'echo line1\necho line2; exit 0');
    expect(await withDeadline(group.exited, deadlineMs, 'the script')).toEqual({ code: ulimitFailedStatus, signal: null });
    expect(group.stdout()).toBe('');
    expect(group.stderr()).toMatch(/ulimit: open files: cannot modify limit/);
  });
});

describe('CPU time limit', () => {
  const limits: ResourceLimits = { cpuSeconds: 1 };

  it.concurrent('kills the shell itself with SIGXCPU, recognised as cpu', async ({ onTestFinished: onFinished }) => {
    const group = startGroup(`${ulimitPrefix(limits)}while :; do :; done`, { onFinished });
    const exit = await withDeadline(group.exited, deadlineMs, 'the loop to be killed');
    expect(exit).toEqual({ code: null, signal: 'SIGXCPU' });
    expect(limitFromExit(limits, exit)).toBe('cpu');
    expect(limitFromExit({}, exit)).toBeNull();
  });

  it.concurrent('kills a child with SIGXCPU: bash exits 152, recognised as cpu', async ({ onTestFinished: onFinished }) => {
    // `; exit $?` keeps bash from exec-ing python in its place: python is its child.
    const group = startGroup(`${ulimitPrefix(limits)}${python} -c 'while True: pass'; exit $?`, { onFinished });
    const exit = await withDeadline(group.exited, deadlineMs, 'python to be killed');
    expect(exit).toEqual({ code: 152, signal: null });
    expect(group.stderr()).toMatch(/CPU time limit exceeded/);
    expect(limitFromExit(limits, exit)).toBe('cpu');
  });

  it.concurrent('kills a process that ignores SIGXCPU at the hard limit: recognised with what the watch saw', async ({ onTestFinished: onFinished }) => {
    const group = startGroup(`${ulimitPrefix(limits)}trap '' XCPU; while :; do :; done`, { onFinished });
    const { watch: w } = watch(group.pgid, limits, onFinished);
    const exit = await withDeadline(group.exited, deadlineMs, 'the loop to be killed');
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(w.peakCpuSeconds).toBeGreaterThanOrEqual(1);
    expect(limitFromExit(limits, exit, w)).toBe('cpu');
    expect(limitFromExit(limits, exit)).toBeNull(); // without the watch, a SIGKILL could be anything
  });
});

describe('limitFromExit', () => {
  const limits: ResourceLimits = { cpuSeconds: 5 };
  it('tells open_files from a run that failed saying "Too many open files", with that limit set', () => {
    const said = 'bash: line 1: /dev/null: Too many open files\n';
    expect(limitFromExit({ openFiles: 32 }, { code: 3, signal: null }, undefined, said)).toBe('open_files');
    expect(limitFromExit({ openFiles: 32 }, { code: null, signal: 'SIGABRT' }, undefined, said)).toBe('open_files');
    expect(limitFromExit({ openFiles: 32 }, { code: 0, signal: null }, undefined, said)).toBeNull(); // it coped
    expect(limitFromExit({ openFiles: 32 }, { code: 3, signal: null }, undefined, 'other trouble\n')).toBeNull();
    expect(limitFromExit({}, { code: 3, signal: null }, undefined, said)).toBeNull(); // not our limit
  });

  it('tells cpu from other ends', () => {
    expect(limitFromExit(limits, { code: 0, signal: null })).toBeNull();
    expect(limitFromExit(limits, { code: 1, signal: null })).toBeNull();
    expect(limitFromExit(limits, { code: null, signal: 'SIGTERM' })).toBeNull();
    expect(limitFromExit(limits, { code: 152, signal: null })).toBe('cpu');
    expect(limitFromExit(limits, { code: null, signal: 'SIGXCPU' })).toBe('cpu');
    expect(limitFromExit(limits, { code: 137, signal: null }, { peakCpuSeconds: 5.2 })).toBe('cpu');
    expect(limitFromExit(limits, { code: 137, signal: null }, { peakCpuSeconds: 3 })).toBeNull();
    expect(limitFromExit(limits, { code: null, signal: 'SIGKILL' }, { peakCpuSeconds: 5 })).toBe('cpu');
    expect(limitFromExit({ memoryBytes: MiB }, { code: 152, signal: null })).toBeNull();
  });
});

describe('open files limit', () => {
  it('makes a script that opens more fail', async () => {
    const script = 'for i in $(seq 1 32); do exec {fd}</dev/null || { echo "failed at $i"; exit 3; }; done; echo "opened all"';
    const limited = startGroup(ulimitPrefix({ openFiles: 16 }) + script);
    expect(await withDeadline(limited.exited, deadlineMs, 'the script')).toEqual({ code: 3, signal: null });
    // bash gives {fd} descriptors from 10 up: 10 to 15 open, the 7th fails.
    expect(limited.stdout()).toBe('failed at 7\n');
    expect(limited.stderr()).toMatch(/Too many open files/);

    const opener = startGroup(ulimitPrefix({ openFiles: 16 }) + `${python} -c "files = [open('/dev/null') for _ in range(32)]"`);
    expect(await withDeadline(opener.exited, deadlineMs, 'python')).toEqual({ code: 1, signal: null });
    expect(opener.stderr()).toMatch(/Too many open files/);

    const unlimited = startGroup(script);
    expect(await withDeadline(unlimited.exited, deadlineMs, 'the script')).toEqual({ code: 0, signal: null });
    expect(unlimited.stdout()).toBe('opened all\n');
  });

  it('leaves an ordinary script alone', async () => {
    const script = `set -e; echo hi | cat; x=$(ls /); [ -n "$x" ]; ${python} -c "import subprocess; subprocess.run(['true'], check=True)"; echo done`;
    const group = startGroup(ulimitPrefix({ openFiles: 16 }) + script);
    expect(await withDeadline(group.exited, deadlineMs, 'the script')).toEqual({ code: 0, signal: null });
    expect(group.stdout()).toBe('hi\ndone\n');
  });
});

describe('RunWatch', () => {
  it('reports memory over the limit, summed over the processes of the group', async () => {
    // Two processes of 60 MiB: each under 100 MiB, together over it.
    const group = startGroup(`${holdMemory(60)} & ${holdMemory(60)} & wait`);
    const { watch: w, hits } = watch(group.pgid, { memoryBytes: 100 * MiB });
    await until(() => hits.length > 0, 'the memory limit', { timeoutMs: deadlineMs, intervalMs: 10 });
    expect(hits).toHaveLength(1);
    expect(hits[0]![0]).toBe('memory');
    expect(hits[0]![1]).toMatch(/^[\d.]+MiB resident in \d+ processes$/);
    expect(w.limitHit).toBe('memory');
    expect(w.peakMemoryBytes).toBeGreaterThan(100 * MiB);
    await moreSamples(w, 2);
    expect(hits).toHaveLength(1); // once
  });

  it('does not report a group that stays under its limits', async () => {
    const group = startGroup(`${holdMemory(20)} & sleep 60 & wait`);
    const { watch: w, hits } = watch(group.pgid, { memoryBytes: 100 * MiB, processes: 3 });
    await until(() => count(group.stdout(), 'ready') === 1, 'python to be ready', { timeoutMs: deadlineMs, intervalMs: 10 });
    await moreSamples(w, 4);
    expect(w.last!.processes).toBe(3); // bash, python, sleep: it saw them all
    expect(w.last!.memoryBytes).toBeGreaterThan(20 * MiB);
    expect(w.last!.memoryBytes).toBeLessThan(100 * MiB);
    expect(hits).toEqual([]);
  });

  it('reports more processes than the limit', async () => {
    const group = startGroup('for i in $(seq 20); do sleep 60 & done; wait');
    const { watch: w, hits } = watch(group.pgid, { processes: 10 });
    await until(() => hits.length > 0, 'the process limit', { timeoutMs: deadlineMs, intervalMs: 10 });
    expect(hits[0]![0]).toBe('processes');
    expect(hits[0]![1]).toMatch(/^\d+ processes at once$/);
    expect(w.peakProcesses).toBeGreaterThan(10);
  });

  it('counts only the processes of its group, and those of a group watched later', async () => {
    const other = startGroup(`for i in $(seq 20); do sleep 60 & done; ${holdMemory(150)} & wait`);
    // (`echo ready; sleep 60` would be one process: bash execs the last command of -c in its place.)
    const group = startGroup('sleep 60 & echo ready; wait');
    const { watch: w, hits } = watch(group.pgid, { processes: 5, memoryBytes: 100 * MiB });
    await until(() => count(other.stdout(), 'ready') === 1 && count(group.stdout(), 'ready') === 1, 'both groups to be ready', { timeoutMs: deadlineMs, intervalMs: 10 });
    await moreSamples(w, 3);
    expect(w.last!.processes).toBe(2);
    expect(w.last!.memoryBytes).toBeLessThan(100 * MiB);
    expect(hits).toEqual([]);
    // The scans so far read the other group's processes and set them aside as not watched:
    // a watch of that group made now must still find them all at its first sample.
    const { watch: otherWatch } = watch(other.pgid, {});
    await moreSamples(otherWatch, 1);
    expect(otherWatch.last!.processes).toBe(22);
    expect(otherWatch.last!.memoryBytes).toBeGreaterThan(150 * MiB);
  });

  it('does not count zombies', async () => {
    // python forks a child that exits at once, and never waits for it.
    const group = startGroup(`${python} -c "import os, time
if os.fork() == 0: os._exit(0)
print('ready', flush=True); time.sleep(60)"; exit`);
    // The watch starts once the child is a zombie: while it still runs, the group really has
    // three processes, and a sample taken then would rightly count it.
    await until(() => zombiesIn(group.pgid) === 1, 'a zombie in the group', { timeoutMs: deadlineMs, intervalMs: 10 });
    const { watch: w, hits } = watch(group.pgid, { processes: 2 });
    await moreSamples(w, 2);
    expect(w.last!.processes).toBe(2); // bash and python
    expect(hits).toEqual([]);
  });

  it('finds processes whose command name has spaces and parentheses', async () => {
    const weird = join(root, 'x) 7 (y z');
    symlinkSync('/bin/sleep', weird);
    const group = startGroup(`for i in 1 2 3; do '${weird}' 60 & done; wait`);
    const { watch: w, hits } = watch(group.pgid, { processes: 3 });
    await until(() => hits.length > 0, 'the process limit', { timeoutMs: deadlineMs, intervalMs: 10 });
    expect(w.last!.processes).toBe(4);
  });

  it('stops calling back when stopped', async () => {
    const group = startGroup('read -r go; for i in $(seq 20); do sleep 60 & done; echo forked; wait', { stdin: true });
    const stopped = watch(group.pgid, { processes: 10 });
    const running = watch(group.pgid, { processes: 10 });
    await moreSamples(stopped.watch, 2);
    // It sees the group (bash, and under load maybe the fork it is still being spawned from), not yet forked.
    expect(stopped.watch.last!.processes).toBeGreaterThanOrEqual(1);
    expect(stopped.watch.last!.processes).toBeLessThan(10);
    stopped.watch.stop();
    const samplesWhenStopped = stopped.watch.samples;
    group.child.stdin!.end('go\n');
    await until(() => running.hits.length > 0, 'the process limit', { timeoutMs: deadlineMs, intervalMs: 10 });
    await moreSamples(running.watch, 2);
    expect(stopped.hits).toEqual([]);
    expect(stopped.watch.samples).toBe(samplesWhenStopped);
  });

  it('refuses a pgid that is not one', () => {
    expect(() => new RunWatch({ pgid: 0, limits: {}, onLimit: () => undefined })).toThrow(RangeError);
    expect(() => new RunWatch({ pgid: 1, limits: {}, onLimit: () => undefined })).toThrow(RangeError);
  });
});

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis', () => {
    const rest = 'S 100 4242 4242 0 -1 4194560 120 0 0 0 150 25 0 0 20 0 1 0 12345 8523776 1234 18446744073709551615';
    expect(parseProcStat(`4243 (x) 7 (y z) ${rest}\n`)).toEqual({ state: 'S', pgid: 4242, sid: 4242, cpuTicks: 175, rssPages: 1234 });
    expect(parseProcStat(`4243 (a)) ${rest}`)).toMatchObject({ pgid: 4242, rssPages: 1234 });
    expect(parseProcStat('garbage')).toBeNull();
    expect(parseProcStat('1 (x) S 0 1')).toBeNull();
  });
});

describe('describeLimit', () => {
  const limits: ResourceLimits = { cpuSeconds: 2, memoryBytes: 64 * MiB, processes: 10, openFiles: 32, outputBytes: MiB };
  it('says which limit, with its value', () => {
    expect(describeLimit('memory', limits)).toBe('hit its memory limit (64MiB)');
    expect(describeLimit('cpu', limits)).toBe('hit its CPU time limit (2s)');
    expect(describeLimit('cpu', { cpuSeconds: 90 })).toBe('hit its CPU time limit (1m30s)');
    expect(describeLimit('processes', limits)).toBe('hit its process limit (10)');
    expect(describeLimit('open_files', limits)).toBe('hit its open files limit (32)');
    expect(describeLimit('output', limits)).toBe('hit its output limit (1MiB)');
    expect(describeLimit('wall_time', limits, 5000)).toBe('hit its wall time limit (5s)');
    expect(describeLimit('memory', {})).toBe('hit its memory limit');
    expect(describeLimit('wall_time', limits)).toBe('hit its wall time limit');
  });

  it('knows which limits need a watch', () => {
    expect(needsWatch({})).toBe(false);
    expect(needsWatch({ openFiles: 64, outputBytes: MiB })).toBe(false);
    expect(needsWatch({ memoryBytes: MiB })).toBe(true);
    expect(needsWatch({ processes: 4 })).toBe(true);
    expect(needsWatch({ cpuSeconds: 4 })).toBe(true);
  });
});
