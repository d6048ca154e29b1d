/**
 * The ProcessRunner with real processes: real bash, a real spool directory, real process
 * groups. Nothing here sleeps to synchronise: every wait polls a condition (a file appears,
 * a process is gone, a held process sits at its gate) with a deadline.
 *
 * Processes are found through /proc: every run carries SCHEDULER_DAEMON_ID and
 * SCHEDULER_TASK_ID in its environment, and this file's daemon id is unique, so the
 * processes of a task id used once in this file are the processes of that one run.
 */
import { defaultExecution } from '../../src/core/execution.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { preparedBound, ProcessRunner, type ProcessRunnerOptions } from '../../src/runner/process-runner.js';
import { allPids, isProcessAlive, procStat, processesOfTask, processGroupMembers } from '../support/processes.js';
import { pidOf, testSpawn } from '../support/test-spawn.js';
import { until, withDeadline } from '../support/wait.js';

const daemonId = `runner-test-${randomUUID()}`;
const killGraceMs = 200;
const outputCap = 64 * 1024;

let root: string;
let spoolDir: string;
let cwd: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scheduler-runner-test-'));
  spoolDir = join(root, 'spool');
  cwd = join(root, 'cwd');
  mkdirSync(cwd);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Processes the test started itself, killed (by their own pid) when the test ends. */
const ownChildren: ChildProcess[] = [];
/** Runners whose prepared processes are discarded when the test ends. */
const runners: ProcessRunner[] = [];

afterEach(() => {
  for (const runner of runners.splice(0)) runner.discardPrepared();
  // Each was started in its own process group: end the group (gone already if the test passed).
  for (const child of ownChildren.splice(0)) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A clock the test sets by hand. */
interface ManualClock {
  t: number;
}

function makeRunner(overrides: Partial<ProcessRunnerOptions> = {}): { runner: ProcessRunner; clock: ManualClock } {
  const clock: ManualClock = { t: 1_000 };
  const runner = new ProcessRunner({
    spoolDir,
    outputCap,
    killGraceMs,
    cwd,
    daemonEnv: process.env,
    workRoot: join(root, 'runs'),
    now: () => clock.t,
    daemonId,
    ...testSpawn(),
    ...overrides,
  });
  runners.push(runner);
  return { runner, clock };
}

// ------------------------------------------------------------------ /proc helpers

/**
 * A held process sits at its gate: it is bash, asleep, has no child (it has not started a
 * command of the script) and still has the gate pipe open on fd 3.
 */
function isHeldAtGate(pid: number): boolean {
  const stat = procStat(pid);
  if (!stat || stat.state !== 'S') return false;
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'bash') return false;
  if (!existsSync(`/proc/${pid}/fd/3`)) return false;
  return !allPids().some((other) => procStat(other)?.ppid === pid);
}

/** Waits until task `taskId` has exactly one process, held at its gate; returns its pid. */
async function heldProcessOf(taskId: string): Promise<number> {
  let pid: number | undefined;
  await until(() => {
    const pids = processesOfTask(daemonId, taskId);
    if (pids.length !== 1 || !isHeldAtGate(pids[0]!)) return false;
    pid = pids[0];
    return true;
  }, `the held process of ${taskId}`);
  return pid!;
}

/** Waits until none of `pids` is alive. */
async function allGone(pids: number[], what: string): Promise<void> {
  await until(() => pids.every((pid) => !isProcessAlive(pid)), what);
}

/** Shell code that waits until both spool files of `base` ("task.run") are written (a stream's head is spooled once it has gone on for a moment). */
function untilSpooled(base: string): string {
  const file = (stream: string) => `"${join(spoolDir, `${base}.${stream}`)}"`;
  return `until [ -s ${file('stdout')} ] && [ -s ${file('stderr')} ]; do sleep 0.01; done`;
}

/** What `bash -c script` does with the same environment, working directory and no stdin. */
function bashC(script: string): { stdout: string; stderr: string; exitCode: number | null } {
  const result = spawnSync('/bin/bash', ['-c', script], { argv0: 'bash', cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.status };
}

// ------------------------------------------------------------------ tests


/** The script files a run's long scripts were written to (one per process). */
function scriptFilesOf(taskId: string, run: number): string[] {
  return readdirSync(spoolDir).filter((name) => name.startsWith(`${taskId}.${run}.`) && name.endsWith('.sh'));
}

describe('ProcessRunner: how a run ends', () => {
  it('a script that exits 0 succeeded, with stdout and stderr captured separately', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: 'ok', run: 1, script: 'echo out-1; echo err-1 >&2; echo out-2' }).finished);
    expect(result).toMatchObject({
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      error: null,
      outputCap,
      stdout: { text: 'out-1\nout-2\n', totalBytes: 12, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: 'err-1\n', totalBytes: 6, droppedBytes: 0, droppedAt: 0 },
    });
  });

  it('what a script writes to stderr after closing its stdout is kept', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: 'stdout-closed', run: 1, script: 'echo out; exec 1>/dev/null; sleep 0.1; echo err >&2' }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'out\n' }, stderr: { text: 'err\n' } });
  });

  it('a script that exits non-zero failed, with its exit code', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: 'fails', run: 1, script: 'echo nope >&2; exit 3' }).finished);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, error: null, stderr: { text: 'nope\n' } });
  });

  it('a script killed by a signal failed, with the signal and an error saying so', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: 'killed', run: 1, script: 'echo before; kill -KILL $$; echo after' }).finished);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGKILL', stdout: { text: 'before\n' } });
    expect(result.error).toMatch(/killed by SIGKILL/);
    expect(result.error).not.toMatch(/on request/);
  });

  it('startedAt and finishedAt are read from the injected clock, at release and at the end', async () => {
    const { runner, clock } = makeRunner();
    clock.t = 111_000;
    const running = runner.start({ taskId: 'timed', run: 1, script: 'echo hi' });
    clock.t = 222_000;
    const result = await withDeadline(running.finished);
    expect(result.startedAt).toBe(111_000);
    expect(result.finishedAt).toBe(222_000);
  });

  it('a script that cannot be spawned (its cwd does not exist) failed, saying it could not start', async () => {
    const { runner } = makeRunner({ cwd: join(root, 'no-such-dir') });
    const result = await withDeadline(runner.start({ taskId: 'nospawn', run: 1, script: 'echo hi' }).finished);
    expect(result).toMatchObject({ outcome: 'failed', startedAt: null, exitCode: null, signal: null, stdout: { text: '', totalBytes: 0 } });
    expect(result.error).toMatch(/could not start: the working directory .*no-such-dir does not exist/);
  });
});

describe('ProcessRunner: what the script sees', () => {
  it('the run is identified in its environment', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(
      runner.start({ taskId: 'env.task-1', run: 7, script: 'echo "$SCHEDULER_TASK_ID|$SCHEDULER_RUN|$SCHEDULER_DAEMON_ID"' }).finished,
    );
    expect(result.stdout.text).toBe(`env.task-1|7|${daemonId}\n`);
  });

  it('no helper variable of the gate is left and there are no positional parameters', async () => {
    const { runner } = makeRunner();
    const script = 'echo "go=${__go-UNSET} s=${__s-UNSET} argc=$# args=[$*] zero=$0"; set | grep -c "^__" || true';
    const result = await withDeadline(runner.start({ taskId: 'clean', run: 1, script }).finished);
    expect(result.stdout.text).toBe('go=UNSET s=UNSET argc=0 args=[] zero=bash\n0\n');
    // ... exactly what bash -c shows.
    expect(result.stdout.text).toBe(bashC(script).stdout);
  });

  const scripts: Array<[string, string]> = [
    ['quotes', `echo "double \\"quoted\\" \${HOME:+set}" 'single $HOME "x"' $'ansi\\tC' "it's"`],
    ['arithmetic', 'echo $((1+2)) $(( 6 * 7 ))'],
    ['heredocs', 'cat <<EOF\nexpanded $((2*3)) ${#HOME}\nEOF\ncat <<\'RAW\'\nliteral $HOME $((1+1))\nRAW\ncat <<-TABS\n\tstripped\n\tTABS\necho after'],
    ['multi-line', 'total=0\nfor i in 1 2 3; do\n  total=$((total + i))\ndone\nif [ "$total" -eq 6 ]; then\n  echo "total $total"\nelse\n  echo wrong\nfi\ncase x in x) echo case;; esac'],
    ['set -e', 'set -e\necho before\nfalse\necho after'],
    ['functions', 'f() { echo "f:$1:$#"; return 3; }\nf a b || echo "rc=$?"\ng() { local v=inner; echo "$v"; }\ng; echo "${v-unset}"'],
    ['exit N', 'echo out; echo err >&2; exit 42; echo unreachable'],
    ['exit in a function', 'die() { echo "dying: $*" >&2; exit 9; }\necho start\ndie now\necho unreachable'],
    ['EXIT trap', "trap 'echo bye' EXIT\necho hi\nexit 4"],
    ['stdin is empty', 'cat; echo "read rc=$(read -r line; echo $?)"'],
    ['pipeline and subshell', 'set -o pipefail\n(echo sub; exit 5) | cat\necho "status ${PIPESTATUS[*]}"'],
    ['no trailing newline, comment', 'echo a # a comment ; echo b'],
    ['syntax error after a command', 'echo start\nif then fi'],
  ];

  it.each(scripts)('%s: same stdout, exit code (and stderr) as bash -c', async (name, script) => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: `same-${name.replace(/[^A-Za-z0-9]/g, '_')}`, run: 1, script }).finished);
    const expected = bashC(script);
    expect(result.stdout.text).toBe(expected.stdout);
    expect(result.exitCode).toBe(expected.exitCode);
    expect(result.outcome).toBe(expected.exitCode === 0 ? 'succeeded' : 'failed');
    // A syntax error is reported by "eval" rather than "-c"; any other stderr is identical.
    if (name.startsWith('syntax')) expect(result.stderr.text).toMatch(/syntax error/);
    else expect(result.stderr.text).toBe(expected.stderr);
  });

  it('the expected outputs of the bash -c comparison are what the scripts mean', () => {
    // Guards the comparison above against both sides being wrong the same way.
    expect(bashC('echo $((1+2))').stdout).toBe('3\n');
    expect(bashC('set -e\necho before\nfalse\necho after')).toMatchObject({ stdout: 'before\n', exitCode: 1 });
    expect(bashC('echo out; echo err >&2; exit 42')).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 42 });
  });

  it('a script longer than 100 KiB runs, through a file', async () => {
    const { runner } = makeRunner();
    const padding = ': padding line to make the script long\n';
    const script = padding.repeat(Math.ceil((150 * 1024) / padding.length)) + 'echo "long script ran: $#"\n';
    expect(Buffer.byteLength(script)).toBeGreaterThan(150 * 1024);
    const running = runner.start({ taskId: 'long', run: 1, script });
    // Too long for one argument: it was written to the spool for bash to read.
    const [file] = scriptFilesOf('long', 1);
    expect(readFileSync(join(spoolDir, file!), 'utf8')).toBe(script);
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: 'long script ran: 0\n' }, stderr: { text: '' } });
    // The file goes with the process.
    expect(scriptFilesOf('long', 1)).toEqual([]);
  });

  it('a long script whose file is gone by the time it is released fails; it does not run as an empty script', async () => {
    const { runner } = makeRunner();
    const spec = { taskId: 'long-gone', run: 1, script: ': padding\n'.repeat(12_000) + 'echo ran\n' };
    runner.prepare(spec);
    await heldProcessOf('long-gone');
    const [file] = scriptFilesOf('long-gone', 1);
    rmSync(join(spoolDir, file!));
    const result = await withDeadline(runner.start(spec).finished);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 126, stdout: { text: '' } });
    expect(result.stderr.text).toMatch(/long-gone\.1\.[0-9a-f]+\.sh: No such file or directory/);
  });

  it('a long script runs when the spool directory is given relative to the daemon, whose scripts run elsewhere', async () => {
    // `scheduler daemon --data-dir ./data` gives a spool path relative to the daemon's cwd;
    // bash, started in the scripts' cwd, must still find the script file.
    const relativeSpool = relative(process.cwd(), join(root, 'relative-spool'));
    expect(isAbsolute(relativeSpool)).toBe(false);
    const { runner } = makeRunner({ spoolDir: relativeSpool });
    const script = ': padding\n'.repeat(12_000) + 'echo "ran from $PWD"\n';
    const result = await withDeadline(runner.start({ taskId: 'long-relative', run: 1, script }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: `ran from ${cwd}\n` }, stderr: { text: '' } });
  });
});

describe('ProcessRunner: output cap', () => {
  it('keeps the first and last half of `cap` bytes per stream, counts them all, and spools only the head', async () => {
    const cap = 1000;
    const { runner } = makeRunner({ outputCap: cap });
    // The head is spooled once a stream has gone on for a moment (headSpoolDelayMs): the script waits for it.
    const script = `head -c 5000 /dev/zero | tr '\\0' o; head -c 3000 /dev/zero | tr '\\0' e >&2; echo; echo small-tail; ${untilSpooled('capped.1')}`;
    const result = await withDeadline(runner.start({ taskId: 'capped', run: 1, script }).finished);
    expect(result.outcome).toBe('succeeded');
    expect(result.outputCap).toBe(cap);
    const stdoutBytes = 5000 + 1 + 'small-tail\n'.length;
    expect(result.stdout).toEqual({
      text: 'o'.repeat(cap / 2) + 'o'.repeat(cap / 2 - '\nsmall-tail\n'.length) + '\nsmall-tail\n',
      totalBytes: stdoutBytes,
      droppedBytes: stdoutBytes - cap,
      droppedAt: cap / 2,
    });
    expect(result.stderr).toEqual({ text: 'e'.repeat(cap), totalBytes: 3000, droppedBytes: 2000, droppedAt: cap / 2 });
    for (const stream of ['stdout', 'stderr']) {
      const spooled = readFileSync(join(spoolDir, `capped.1.${stream}`), 'utf8');
      expect(spooled).toBe(stream === 'stdout' ? 'o'.repeat(cap / 2) : 'e'.repeat(cap / 2));
    }
  });

  it('an odd cap keeps one byte more of the head than of the tail', async () => {
    const { runner } = makeRunner({ outputCap: 7 });
    const result = await withDeadline(runner.start({ taskId: 'odd-cap', run: 1, script: 'printf 0123456789' }).finished);
    expect(result.stdout).toEqual({ text: '0123789', totalBytes: 10, droppedBytes: 3, droppedAt: 4 });
  });

  it('output under the cap is kept whole and not marked truncated', async () => {
    const { runner } = makeRunner({ outputCap: 10 });
    const result = await withDeadline(runner.start({ taskId: 'exact-cap', run: 1, script: 'printf 0123456789' }).finished);
    expect(result.stdout).toEqual({ text: '0123456789', totalBytes: 10, droppedBytes: 0, droppedAt: 0 });
  });
});

describe('ProcessRunner: live output', () => {
  it('hands every chunk to the listener as it is written, whole characters at contiguous offsets, past the cap too', async () => {
    const { runner } = makeRunner({ outputCap: 1000 });
    const gate = join(root, 'live-output-gate');
    // 'first', then the first byte of an é; the rest of it only once the test opens the gate.
    const script = `printf 'first\\n\\xc3'; while [ ! -e '${gate}' ]; do sleep 0.01; done; printf '\\xa9'; printf 'é%.0s' $(seq 2999); echo done >&2`;
    const running = runner.start({ taskId: 'live', run: 1, script });
    const chunks: Array<{ stream: string; offset: number; bytes: Buffer }> = [];
    running.listen((stream, offset, chunk) => chunks.push({ stream, offset, bytes: Buffer.from(chunk) }));

    await until(() => chunks.length > 0, 'the first chunk');
    // The half of é written so far is held back: the listener and outputSoFar stop before it.
    expect(chunks).toEqual([{ stream: 'stdout', offset: 0, bytes: Buffer.from('first\n') }]);
    expect(running.outputSoFar()).toEqual({
      stdout: { text: 'first\n', totalBytes: 6, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    });

    writeFileSync(gate, '');
    const result = await withDeadline(running.finished);
    const whole = Buffer.from('first\n' + 'é'.repeat(3000));
    const stdout = chunks.filter((chunk) => chunk.stream === 'stdout');
    let offset = 0;
    for (const chunk of stdout) {
      expect(chunk.offset).toBe(offset);
      expect(Buffer.from(chunk.bytes.toString('utf8')).equals(chunk.bytes), `the chunk at ${chunk.offset} is whole characters`).toBe(true);
      offset += chunk.bytes.length;
    }
    expect(Buffer.concat(stdout.map((chunk) => chunk.bytes)).equals(whole)).toBe(true);
    expect(chunks.filter((chunk) => chunk.stream === 'stderr')).toEqual([{ stream: 'stderr', offset: 0, bytes: Buffer.from('done\n') }]);
    // The capture kept 500 bytes from each end.
    expect(result.stdout).toEqual({ text: 'first\n' + 'é'.repeat(247) + 'é'.repeat(250), totalBytes: whole.length, droppedBytes: whole.length - 1000, droppedAt: 500 });
    expect(running.outputSoFar()).toEqual({ stdout: result.stdout, stderr: result.stderr });
  });
});

describe('ProcessRunner: process groups', () => {
  it('a script that leaves a background process ends promptly, and the background process is ended', async () => {
    // A grace period longer than the test may take: KILL, and the fallback that stops waiting
    // for pipes held open (grace + 1s), never come. The run can only end by TERM to the group.
    const { runner } = makeRunner({ killGraceMs: 600_000 });
    const result = await withDeadline(runner.start({ taskId: 'bg', run: 1, script: 'sleep 30 & echo $!' }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    const backgroundPid = Number(result.stdout.text.trim());
    expect(backgroundPid).toBeGreaterThan(1);
    await allGone([backgroundPid], 'the background sleep to be ended');
  });

  it('kill() ends a running run and everything it started, and resolves with the result', async () => {
    const { runner } = makeRunner();
    const pidFile = join(cwd, 'kill.pids');
    const running = runner.start({ taskId: 'tokill', run: 1, script: `sleep 30 & echo "$$ $!" > "${pidFile}.tmp"; mv "${pidFile}.tmp" "${pidFile}"; sleep 30` });
    await until(() => existsSync(pidFile), 'the script to write its pids');
    const [mainPid, backgroundPid] = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
    expect(mainPid).toBe(await pidOf(running));
    const group = running.pid!;
    // The shell, the background sleep and the foreground sleep, all in the run's group.
    await until(() => processGroupMembers(group).length >= 2 && processGroupMembers(group).includes(backgroundPid!), 'the run to have its processes');

    const result = await withDeadline(running.kill());
    expect(result).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGTERM' });
    expect(result.error).toMatch(/killed by SIGTERM.*on request/);
    expect(await running.finished).toBe(result);
    await until(() => processGroupMembers(group).length === 0, 'every process of the run to be gone');
    expect(isProcessAlive(backgroundPid!)).toBe(false);
  });

  it('kill() escalates to KILL after the grace period for a process that ignores TERM', async () => {
    const { runner } = makeRunner();
    const ready = join(cwd, 'stubborn.ready');
    const running = runner.start({ taskId: 'stubborn', run: 1, script: `trap '' TERM; touch "${ready}"; while :; do sleep 0.05; done` });
    await until(() => existsSync(ready), 'the script to ignore TERM');
    const group = running.pid!;
    const result = await withDeadline(running.kill());
    expect(result).toMatchObject({ outcome: 'failed', signal: 'SIGKILL' });
    expect(result.error).toMatch(/on request/);
    await until(() => processGroupMembers(group).length === 0, 'every process of the run to be gone');
  });
});

describe('ProcessRunner: timeouts', () => {
  it('a run longer than its timeout is ended with its whole group and recorded as timed_out', async () => {
    const { runner } = makeRunner();
    const pidFile = join(cwd, 'timeout.pids');
    const running = runner.start({
      taskId: 'slowpoke', run: 1, timeoutMs: 2000, // the script has begun and forked by then, on a busy machine too
      script: `echo before; sleep 30 & echo "$!" > "${pidFile}"; wait; echo after`,
    });
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ outcome: 'timed_out', error: 'timed out after 2s', signal: 'SIGTERM', stdout: { text: 'before\n' } });
    const background = Number(readFileSync(pidFile, 'utf8'));
    await until(() => !isProcessAlive(background), 'the background sleep to be gone');
    await until(() => processGroupMembers(running.pid!).length === 0, 'every process of the run to be gone');
  });

  it('a run that ends within its timeout is not touched', async () => {
    const { runner } = makeRunner();
    const result = await withDeadline(runner.start({ taskId: 'quick', run: 1, timeoutMs: 5000, script: 'echo done' }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, error: null, stdout: { text: 'done\n' } });
  });
});

describe('ProcessRunner: prepared (held) runs', () => {
  it('a prepared run does not run before start(); start() releases it, and startedAt is the release time', async () => {
    const { runner, clock } = makeRunner();
    const marker = join(cwd, 'prepared.ran');
    const spec = { taskId: 'prep', run: 1, script: `touch "${marker}"; echo "released $SCHEDULER_RUN"` };
    clock.t = 5_000;
    runner.prepare(spec);
    const heldPid = await heldProcessOf('prep');
    // Spawned, sitting at its gate: the script has not run.
    expect(existsSync(marker)).toBe(false);

    clock.t = 9_000;
    const running = runner.start(spec);
    expect(await pidOf(running)).toBe(heldPid); // the held process was released, not a new one spawned
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ outcome: 'succeeded', startedAt: 9_000, stdout: { text: 'released 1\n' } });
    expect(existsSync(marker)).toBe(true);
    await allGone([heldPid], 'the run to end');
  });

  it('prepare() resolves once the held process exists, so that a caller preparing many can pace itself', async () => {
    const { runner } = makeRunner();
    const spec = { taskId: 'prep-paced', run: 1, script: 'echo paced' };
    await runner.prepare(spec);
    // No wait here: through the executor, the process exists only once it has answered.
    const [pid] = processesOfTask(daemonId, 'prep-paced');
    expect(pid).toBeDefined();
    const running = runner.start(spec);
    expect(await pidOf(running)).toBe(pid);
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'paced\n' } });
  });

  it('holds at most about 1/32 of the memory in prepared processes (0.5 MB each), between 64 and 1,024 of them', () => {
    const gib = 1024 ** 3;
    expect(preparedBound(1 * gib)).toBe(64);
    expect(preparedBound(4 * gib)).toBe(256);
    expect(preparedBound(16 * gib)).toBe(1024);
    expect(preparedBound(256 * gib)).toBe(1024);
  });

  it('start() with a later notBefore releases the script at that time (the executor times it), and startedAt is that time', async () => {
    const { runner, clock } = makeRunner();
    const spec = { taskId: 'ahead', run: 1, script: 'echo "$EPOCHREALTIME"' };
    runner.prepare(spec);
    await heldProcessOf('ahead');
    clock.t = 9_000;
    const releasedAt = Date.now();
    const result = await withDeadline(runner.start({ ...spec, notBefore: 9_300 }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', startedAt: 9_300 });
    // Node's own timer (without the executor) may fire within a millisecond before its time.
    expect(Number(result.stdout.text.trim()) * 1000).toBeGreaterThanOrEqual(releasedAt + 299);
  });

  it('start() with a notBefore that has passed releases at once, startedAt now', async () => {
    const { runner, clock } = makeRunner();
    clock.t = 9_000;
    const result = await withDeadline(runner.start({ taskId: 'late', run: 1, script: 'echo ran', notBefore: 8_000 }).finished);
    expect(result).toMatchObject({ outcome: 'succeeded', startedAt: 9_000, stdout: { text: 'ran\n' } });
  });

  it('a run killed before its notBefore never runs its script', async () => {
    const { runner, clock } = makeRunner();
    const marker = join(cwd, 'killed-ahead.ran');
    clock.t = 9_000;
    const running = runner.start({ taskId: 'killed-ahead', run: 1, script: `touch "${marker}"`, notBefore: 9_000 + 60_000 });
    await heldProcessOf('killed-ahead');
    const result = await withDeadline(running.kill());
    expect(result.exitCode).toBeNull();
    expect(existsSync(marker)).toBe(false);
  });

  it('a prepared process serves the run when its settings are equal, read again from the store (not the same objects)', async () => {
    const { runner } = makeRunner();
    const execution = { ...defaultExecution, env: { GREETING: 'hi' }, limits: { outputBytes: 1024 } };
    runner.prepare({ taskId: 'prep-read-twice', run: 1, script: 'echo "$GREETING"', execution });
    const heldPid = await heldProcessOf('prep-read-twice');
    expect(runner.preparedProcesses()).toEqual({ held: 1, used: 0, discarded: 0 });
    const running = runner.start({ taskId: 'prep-read-twice', run: 1, script: 'echo "$GREETING"', execution: structuredClone(execution) });
    expect(await pidOf(running)).toBe(heldPid);
    expect(runner.preparedProcesses()).toEqual({ held: 0, used: 1, discarded: 0 });
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'hi\n' } });
  });

  it('a prepared process with other settings is discarded, and the run gets a process with its own', async () => {
    const { runner } = makeRunner();
    runner.prepare({ taskId: 'prep-changed', run: 1, script: 'echo "$GREETING"', execution: { ...defaultExecution, env: { GREETING: 'old' } } });
    const heldPid = await heldProcessOf('prep-changed');
    const running = runner.start({ taskId: 'prep-changed', run: 1, script: 'echo "$GREETING"', execution: { ...defaultExecution, env: { GREETING: 'new' } } });
    expect(await pidOf(running)).not.toBe(heldPid);
    expect(runner.preparedProcesses()).toEqual({ held: 0, used: 0, discarded: 1 });
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'new\n' } });
  });

  it('preparing the same run twice holds one process', async () => {
    const { runner } = makeRunner();
    const spec = { taskId: 'prep-twice', run: 1, script: 'echo once' };
    runner.prepare(spec);
    const heldPid = await heldProcessOf('prep-twice');
    runner.prepare(spec);
    expect(processesOfTask(daemonId, 'prep-twice')).toEqual([heldPid]);
    const result = await withDeadline(runner.start(spec).finished);
    expect(result.stdout.text).toBe('once\n');
  });

  it('start() with a script other than the prepared one spawns afresh, and the stale process never runs', async () => {
    const { runner } = makeRunner();
    const stale = join(cwd, 'stale.ran');
    const fresh = join(cwd, 'fresh.ran');
    runner.prepare({ taskId: 'changed', run: 1, script: `touch "${stale}"` });
    const stalePid = await heldProcessOf('changed');

    const running = runner.start({ taskId: 'changed', run: 1, script: `touch "${fresh}"; echo fresh` });
    expect(await pidOf(running)).not.toBe(stalePid);
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'fresh\n' } });
    expect(existsSync(fresh)).toBe(true);
    await allGone([stalePid], 'the stale held process to exit');
    expect(existsSync(stale)).toBe(false);
  });

  it('discardPrepared() makes held processes exit without running their scripts', async () => {
    const { runner } = makeRunner();
    const markers = [join(cwd, 'discard-a.ran'), join(cwd, 'discard-b.ran')];
    runner.prepare({ taskId: 'discard-a', run: 1, script: `touch "${markers[0]}"` });
    // A long script is held behind a file in the spool: discarding removes it.
    const longScript = ': pad\n'.repeat(25_000) + `touch "${markers[1]}"\n`;
    runner.prepare({ taskId: 'discard-b', run: 1, script: longScript });
    const pids = [await heldProcessOf('discard-a'), await heldProcessOf('discard-b')];
    expect(scriptFilesOf('discard-b', 1)).toHaveLength(1);

    runner.discardPrepared();
    await allGone(pids, 'the held processes to exit');
    expect(markers.map((marker) => existsSync(marker))).toEqual([false, false]);
    await until(() => scriptFilesOf('discard-b', 1).length === 0, 'the spooled script to be removed');
    expect(readdirSync(spoolDir).filter((name) => name.startsWith('discard-'))).toEqual([]);
  });

  it("discardPrepared(taskId) discards that task's held processes only; another task's still serves its run", async () => {
    const { runner } = makeRunner();
    const marker = join(cwd, 'gone-task.ran');
    runner.prepare({ taskId: 'gone-task', run: 3, script: `touch "${marker}"` });
    const kept = { taskId: 'kept-task', run: 1, script: 'echo kept' };
    runner.prepare(kept);
    const gonePid = await heldProcessOf('gone-task');
    const keptPid = await heldProcessOf('kept-task');

    runner.discardPrepared('gone-task');
    await allGone([gonePid], "the deleted task's held process to exit");
    expect(existsSync(marker)).toBe(false);
    expect(runner.preparedProcesses()).toEqual({ held: 1, used: 0, discarded: 1 });
    const running = runner.start(kept);
    expect(await pidOf(running)).toBe(keptPid);
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'kept\n' } });
  });

  it('a run started after discardPrepared() is spawned afresh and runs', async () => {
    const { runner } = makeRunner();
    const spec = { taskId: 'after-discard', run: 1, script: 'echo ran' };
    runner.prepare(spec);
    const heldPid = await heldProcessOf('after-discard');
    runner.discardPrepared();
    await allGone([heldPid], 'the held process to exit');
    const running = runner.start(spec);
    expect(await pidOf(running)).not.toBe(heldPid);
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'ran\n' } });
  });
});

describe('ProcessRunner: spool', () => {
  it('a new runner drops script files a dead daemon left in the spool, and keeps spooled output', async () => {
    makeRunner(); // the spool exists
    const leftScript = join(spoolDir, 'crashed.7.0badc0de.sh');
    const leftOutput = join(spoolDir, 'crashed.7.stdout');
    writeFileSync(leftScript, 'echo long\n');
    writeFileSync(leftOutput, 'partial\n');
    const { runner } = makeRunner();
    expect(existsSync(leftScript)).toBe(false);
    expect((await runner.recoverOutput('crashed', 7)).stdout.text).toBe('partial\n');
  });

  it('a new runner removes the run workspaces (scratch directories, script files) a dead daemon left', () => {
    const workRoot = join(root, 'runs');
    const left = join(workRoot, 'crashed.7-abc123', 'scratch');
    mkdirSync(left, { recursive: true });
    writeFileSync(join(left, 'data'), 'left behind');
    makeRunner({ workRoot });
    expect(existsSync(join(workRoot, 'crashed.7-abc123'))).toBe(false);
  });

  it('recoverOutput reads what a run spooled (the head of each stream); removeSpool deletes it', async () => {
    const cap = 100;
    const { runner } = makeRunner({ outputCap: cap });
    const stdoutPath = join(spoolDir, 'recover-me.3.stdout');
    const stderrPath = join(spoolDir, 'recover-me.3.stderr');
    // A run spools the head of each stream: at most half the cap.
    writeFileSync(stdoutPath, 'x'.repeat(cap / 2));
    writeFileSync(stderrPath, 'partial error\n');

    expect(await runner.recoverOutput('recover-me', 3)).toMatchObject({
      stdout: { text: 'x'.repeat(cap / 2), totalBytes: cap / 2, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: 'partial error\n', totalBytes: 14, droppedBytes: 0, droppedAt: 0 },
    });
    // Another run of the task, or a run that spooled nothing: empty output.
    expect(await runner.recoverOutput('recover-me', 4)).toMatchObject({
      stdout: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: '', totalBytes: 0, droppedBytes: 0, droppedAt: 0 },
    });

    runner.removeSpool('recover-me', 3);
    expect([stdoutPath, stderrPath].map((path) => existsSync(path))).toEqual([false, false]);
    // Removing what is not there is not an error.
    runner.removeSpool('recover-me', 3);
  });

  it('the output a run spools while it runs is what recoverOutput gives back', async () => {
    const { runner } = makeRunner();
    const script = `echo to-out; echo to-err >&2; ${untilSpooled('spooled.2')}`;
    const result = await withDeadline(runner.start({ taskId: 'spooled', run: 2, script }).finished);
    expect(await runner.recoverOutput('spooled', 2)).toMatchObject({ stdout: result.stdout, stderr: result.stderr });
    expect(statSync(join(spoolDir, 'spooled.2.stdout')).size).toBe(7);
    // Once its end is recorded, the engine has the runner remove what the run spooled.
    runner.removeSpool('spooled', 2);
    expect(readdirSync(spoolDir).filter((name) => name.startsWith('spooled.2.'))).toEqual([]);
  });
});

describe('ProcessRunner: what a crash leaves in the spool', () => {
  /** A script that prints `bytes` bytes to stdout, then waits for the file `gate` to appear. */
  const printThenWait = (bytes: number, gate: string) =>
    `head -c ${bytes} /dev/zero | tr '\\0' x; printf END; while [ ! -e ${gate} ]; do sleep 0.02; done`;

  it('the tail of a stream beyond its head is spooled too: a restarted runner rebuilds head and tail, bounded by the cap', async () => {
    const dir = mkdtempSync(join(root, 'tail-spool-'));
    const gate = join(dir, 'go');
    const { runner } = makeRunner({ spoolDir: dir, outputCap: 100, now: () => Date.now() });
    const running = runner.start({ taskId: 'chatty', run: 5, script: printThenWait(1000, gate) });
    await until(() => existsSync(join(dir, 'chatty.5.stdout.tail')), 'the tail to be spooled');
    // The daemon dies here; the next one reads the spool.
    const { runner: next } = makeRunner({ spoolDir: dir, outputCap: 100 });
    const recovered = await next.recoverOutput('chatty', 5);
    expect(recovered.stdout).toEqual({ text: `${'x'.repeat(50)}${'x'.repeat(47)}END`, totalBytes: 1003, droppedBytes: 903, droppedAt: 50 });
    writeFileSync(gate, '');
    const result = await withDeadline(running.finished);
    // What the run itself reports is the same head and tail.
    expect(result.stdout).toEqual(recovered.stdout);
    runner.removeSpool('chatty', 5);
    expect(readdirSync(dir).filter((name) => name.startsWith('chatty.'))).toEqual([]);
  });

  it('while runs execute a heartbeat is kept; a restarted runner says a run was alive until the later of it and its last output', async () => {
    const dir = mkdtempSync(join(root, 'heartbeat-'));
    const gate = join(dir, 'go');
    const heartbeat = join(dir, 'heartbeat');
    const { runner } = makeRunner({ spoolDir: dir, now: () => Date.now() });
    const startedAt = Date.now();
    const running = runner.start({ taskId: 'quiet', run: 1, script: printThenWait(0, gate) });
    await until(() => existsSync(heartbeat), 'the first heartbeat', { timeoutMs: 10_000 });
    const beat = Math.floor(statSync(heartbeat).mtimeMs);
    expect(beat).toBeGreaterThanOrEqual(startedAt);
    const { runner: next } = makeRunner({ spoolDir: dir });
    const output = Math.floor(statSync(join(dir, 'quiet.1.stdout')).mtimeMs);
    expect((await next.recoverOutput('quiet', 1)).lastAliveAt).toBe(Math.max(beat, output));
    // A run with no spool at all: the heartbeat alone.
    expect((await next.recoverOutput('quiet', 2)).lastAliveAt).toBe(beat);
    writeFileSync(gate, '');
    await withDeadline(running.finished);
  });

  it('with neither heartbeat nor spool, nothing says when a run was last alive', async () => {
    const { runner } = makeRunner({ spoolDir: mkdtempSync(join(root, 'empty-spool-')) });
    expect((await runner.recoverOutput('never', 1)).lastAliveAt).toBeUndefined();
  });
});

describe('ProcessRunner: a spool that cannot be written', () => {
  it('does not stop the run or its capture, and raises no unhandled error', async () => {
    // An 'error' event nobody listens to would be an uncaught exception here, which vitest
    // reports as a failure of the run (and which would bring a daemon down).
    const lostSpool = join(root, 'lost-spool');
    const { runner } = makeRunner({ spoolDir: lostSpool });
    rmSync(lostSpool, { recursive: true }); // the directory is gone: every spool open fails
    const result = await withDeadline(runner.start({ taskId: 'nospool', run: 1, script: 'echo out; echo err >&2; echo more' }).finished);
    expect(result).toMatchObject({
      outcome: 'succeeded',
      stdout: { text: 'out\nmore\n', totalBytes: 9, droppedBytes: 0, droppedAt: 0 },
      stderr: { text: 'err\n', totalBytes: 4, droppedBytes: 0, droppedAt: 0 },
    });
    // Nothing spooled: nothing to recover.
    expect((await runner.recoverOutput('nospool', 1)).stdout.totalBytes).toBe(0);
  });
});

describe('ProcessRunner: orphans', () => {
  it('killOrphans() kills process groups marked with its daemon id, and only those', async () => {
    const { runner } = makeRunner();
    const spawnMarked = (id: string): ChildProcess => {
      const child = spawn('/bin/bash', ['-c', 'sleep 30 & sleep 30'], {
        env: { ...process.env, SCHEDULER_DAEMON_ID: id },
        stdio: 'ignore',
        detached: true, // its own process group, as a run's
      });
      child.on('error', () => undefined);
      ownChildren.push(child);
      return child;
    };
    const orphan = spawnMarked(daemonId);
    const other = spawnMarked(`${daemonId}-other`);
    const orphanGroup = orphan.pid!;
    const otherGroup = other.pid!;
    await until(() => processGroupMembers(orphanGroup).length === 3 && processGroupMembers(otherGroup).length === 3, 'both groups to be running');
    const orphanMembers = processGroupMembers(orphanGroup);

    expect(await runner.killOrphans()).toBeGreaterThanOrEqual(1);
    await allGone(orphanMembers, 'the orphaned group to be killed');
    // The other daemon's processes were left alone.
    expect(processGroupMembers(otherGroup)).toHaveLength(3);
    expect(isProcessAlive(otherGroup)).toBe(true);

    process.kill(-otherGroup, 'SIGKILL');
    await until(() => processGroupMembers(otherGroup).length === 0, 'the other group to be cleaned up');
  });
});
