/**
 * The ProcessRunner with scripts in other languages than bash: real python3, node and sh,
 * each given the script as a file after the gate. Nothing sleeps: every wait polls a
 * condition with a deadline.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidOf, testSpawn } from '../support/test-spawn.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunResult } from '../../src/core/transition.js';
import { ProcessRunner, type ProcessRunnerOptions } from '../../src/runner/process-runner.js';
import type { RunSpec } from '../../src/runner/run-launcher.js';
import { allPids, procStat, processesOfTask } from '../support/processes.js';
import { withDeadline } from '../support/wait.js';

const daemonId = `interpreters-test-${randomUUID()}`;
const outputCap = 256 * 1024;

let root: string;
let spoolDir: string;
let cwd: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scheduler-interpreters-test-'));
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

function makeRunner(overrides: Partial<ProcessRunnerOptions> = {}): ProcessRunner {
  const runner = new ProcessRunner({ spoolDir, outputCap, killGraceMs: 200, cwd, daemonEnv: process.env, workRoot: join(spoolDir, '..', 'runs'), now: () => Date.now(), daemonId, ...testSpawn(), ...overrides });
  runners.push(runner);
  return runner;
}

function run(runner: ProcessRunner, spec: RunSpec) {
  return withDeadline(runner.start(spec).finished);
}

/** The script files of a run (one per process), in the spool. */
function scriptFilesOf(taskId: string, run: number): string[] {
  return readdirSync(spoolDir).filter((name) => name.startsWith(`${taskId}.${run}.`) && name.endsWith('.sh'));
}

// ------------------------------------------------------------------ /proc helpers

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------ tests

describe('ProcessRunner: scripts in other languages', () => {
  it('python: runs with python3 (big integers, print())', async () => {
    const result = await run(makeRunner(), { taskId: 'py', run: 1, lang: 'python', script: 'print(2**100)\nimport sys\nprint(sys.version_info[0])' });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: '1267650600228229401496703205376\n3\n' }, stderr: { text: '' } });
  });

  it('python: sees the run environment, the working directory and an empty stdin; its exit code is the run\'s', async () => {
    const script = [
      'import os, sys',
      'print(os.environ["SCHEDULER_TASK_ID"], os.environ["SCHEDULER_RUN"], os.getcwd())',
      'print(repr(sys.stdin.read()))',
      'print("to stderr", file=sys.stderr)',
      'sys.exit(3)',
    ].join('\n');
    const result = await run(makeRunner(), { taskId: 'py-env', run: 4, lang: 'python', script });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, stdout: { text: `py-env 4 ${cwd}\n''\n` }, stderr: { text: 'to stderr\n' } });
  });

  it('node: runs with node', async () => {
    const script = "console.log(typeof process, typeof require, [1, 2, 3].map((x) => x * 2).join('|'));";
    const result = await run(makeRunner(), { taskId: 'node', run: 1, lang: 'node', script });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout: { text: 'object function 2|4|6\n' }, stderr: { text: '' } });
  });

  it('sh: runs with sh, not bash, and gets the script as its file', async () => {
    const script = 'echo "bash=${BASH_VERSION:-none} args=$#"\ncase "$0" in *.sh) echo "from a file" ;; *) echo "zero=$0" ;; esac\nexit 5';
    const result = await run(makeRunner(), { taskId: 'sh', run: 1, lang: 'sh', script });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 5, stdout: { text: 'bash=none args=0\nfrom a file\n' }, stderr: { text: '' } });
  });

  it('a bash task is still bash (lang bash, and lang absent)', async () => {
    const runner = makeRunner();
    const script = 'echo "${BASH_VERSION:+bash} $((6*7))"';
    expect(await run(runner, { taskId: 'bash-explicit', run: 1, lang: 'bash', script })).toMatchObject({ outcome: 'succeeded', stdout: { text: 'bash 42\n' } });
    expect(await run(runner, { taskId: 'bash-default', run: 1, script })).toMatchObject({ outcome: 'succeeded', stdout: { text: 'bash 42\n' } });
  });

  it('quotes, dollars, backslashes reach python byte for byte', async () => {
    // What a shell would expand, unquote or mangle on the way, if the script passed through one.
    const tricky = `a "double" 'single' $HOME \${x} $(echo no) \`id\` \\n \\\\ \\t \\' !! ; & | > < * ? ~ # % é 日本 \u{1F600} end`;
    const script = `import sys\ns = r'''${tricky}'''\nsys.stdout.write(s)\nsys.stdout.write("\\n")\nsys.stdout.write(open(__file__, encoding="utf-8").read())`;
    const result = await run(makeRunner(), { taskId: 'py-bytes', run: 1, lang: 'python', script });
    expect(result).toMatchObject({ outcome: 'succeeded', stderr: { text: '' } });
    expect(result.stdout.text).toBe(`${tricky}\n${script}`);
  });

  it('a custom interpreter: {"cat": ["cat"]} prints the script itself, byte for byte (a long one too)', async () => {
    const runner = makeRunner({ interpreters: { bash: null, cat: ['cat'] } });
    const script = `#!/no/such/interpreter\n"$HOME" '$x' \\ \\\\ \`x\` $(x) %s %%\r\n\ttab é \u{1F600}\nno newline at the end`;
    const short = await run(runner, { taskId: 'cat', run: 1, lang: 'cat', script });
    expect(short).toMatchObject({ outcome: 'succeeded', exitCode: 0, stderr: { text: '' } });
    expect(short.stdout.text).toBe(script);
    expect(short.stdout.totalBytes).toBe(Buffer.byteLength(script));

    const long = script + '\n' + 'x'.repeat(150 * 1024);
    const longResult = await run(runner, { taskId: 'cat-long', run: 1, lang: 'cat', script: long });
    expect(longResult).toMatchObject({ outcome: 'succeeded', stderr: { text: '' }, stdout: { totalBytes: Buffer.byteLength(long) } });
    expect(longResult.stdout.text).toBe(long);
  });

  it('a custom command with arguments: the script file comes last', async () => {
    const runner = makeRunner({ interpreters: { py3: ['python3', '-c', 'import sys; print(sys.argv[1:])', 'first'] } });
    const result = await run(runner, { taskId: 'argv', run: 1, lang: 'py3', script: 'ignored' });
    expect(result.outcome).toBe('succeeded');
    expect(result.stdout.text).toMatch(/^\['first', '.*argv\.1\.[0-9a-f]+\.sh'\]\n$/);
  });

  it('the script file is there while the run runs, and removed after it', async () => {
    const runner = makeRunner();
    const marker = join(root, 'py-file-marker');
    // Waits until the test has seen the file (the marker), so that "while it runs" is a state, not a race.
    const script = `import os, time\nfor _ in range(400):\n    if os.path.exists(${JSON.stringify(marker)}): break\n    time.sleep(0.025)\nprint("done")`;
    const running = runner.start({ taskId: 'py-file', run: 2, lang: 'python', script });
    const files = scriptFilesOf('py-file', 2);
    expect(files).toHaveLength(1);
    expect(readFileSync(join(spoolDir, files[0]!), 'utf8')).toBe(script);
    await vi.waitFor(() => expect(processesOfTask(daemonId, 'py-file').map(comm)).toContain('python3'), { timeout: 5_000, interval: 10 });
    expect(scriptFilesOf('py-file', 2)).toEqual(files);
    writeFileSync(marker, '');
    const result = await withDeadline(running.finished);
    expect(result).toMatchObject({ outcome: 'succeeded', stdout: { text: 'done\n' } });
    expect(scriptFilesOf('py-file', 2)).toEqual([]);
  });

  it('the script file of a failed run is removed too', async () => {
    const result = await run(makeRunner(), { taskId: 'py-fail', run: 1, lang: 'python', script: 'raise SystemExit("bad")' });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 1, stderr: { text: 'bad\n' } });
    expect(scriptFilesOf('py-fail', 1)).toEqual([]);
  });

  it('a prepared python run waits at the gate (no python yet), then runs when started', async () => {
    const runner = makeRunner();
    const spec: RunSpec = { taskId: 'py-held', run: 1, lang: 'python', script: 'print("released")' };
    runner.prepare(spec);
    let held: number | undefined;
    await vi.waitFor(
      () => {
        const pids = processesOfTask(daemonId, 'py-held');
        expect(pids).toHaveLength(1);
        expect(comm(pids[0]!)).toBe('bash');
        expect(procStat(pids[0]!)?.state).toBe('S');
        expect(existsSync(`/proc/${pids[0]}/fd/3`)).toBe(true);
        held = pids[0];
      },
      { timeout: 5_000, interval: 10 },
    );
    expect(allPids().filter((pid) => procStat(pid)?.ppid === held)).toEqual([]);
    const running = runner.start(spec);
    expect(await pidOf(running)).toBe(held);
    expect(await withDeadline(running.finished)).toMatchObject({ outcome: 'succeeded', stdout: { text: 'released\n' } });
    expect(scriptFilesOf('py-held', 1)).toEqual([]);
  });

  it('a prepared run whose language changed is not released as the other language', async () => {
    const runner = makeRunner();
    runner.prepare({ taskId: 'relang', run: 1, lang: 'python', script: 'print(1)' });
    const result = await run(runner, { taskId: 'relang', run: 1, lang: 'bash', script: 'print(1)' });
    // Python would print 1; bash reads `print(1)` as a syntax error.
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 2, stdout: { text: '' } });
    expect(result.stderr.text).toMatch(/syntax error/);
  });

  it('an interpreter that is not installed fails the run with exit 127', async () => {
    const runner = makeRunner({ interpreters: { nope: ['no-such-interpreter-xyz'] } });
    const result = await run(runner, { taskId: 'nope', run: 1, lang: 'nope', script: 'whatever' });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 127 });
    expect(result.stderr.text).toMatch(/no-such-interpreter-xyz/);
    expect(scriptFilesOf('nope', 1)).toEqual([]);
  });
});

describe('ProcessRunner: a language it does not know', () => {
  /** The run start() returned, which must have failed without starting, and why. */
  async function notStartedBecause(running: { pid: number | undefined; finished: Promise<RunResult> }): Promise<string | null> {
    expect(running.pid).toBeUndefined();
    const result = await running.finished;
    expect(result).toMatchObject({ outcome: 'failed', startedAt: null, exitCode: null });
    return result.error;
  }

  it('fails to start, naming the language; no process, no script file', async () => {
    const runner = makeRunner({ interpreters: { bash: null, perl: ['perl'] } });
    expect(await notStartedBecause(runner.start({ taskId: 'gone-lang', run: 1, lang: 'python', script: 'print(1)' }))).toBe(
      'could not start: the language "python" is not configured on this daemon (its --config file)',
    );
    // Preparing is best effort: the caller logs why it was refused, and the run is then started cold.
    await expect(runner.prepare({ taskId: 'gone-lang', run: 2, lang: 'ruby', script: 'puts 1' })).rejects.toThrow(/the language "ruby" is not configured/);
    expect(processesOfTask(daemonId, 'gone-lang')).toEqual([]);
    expect(scriptFilesOf('gone-lang', 1)).toEqual([]);
    expect(scriptFilesOf('gone-lang', 2)).toEqual([]);
  });

  it('with the built-in table, an unknown language fails the same way', async () => {
    expect(await notStartedBecause(makeRunner().start({ taskId: 'perl-builtin', run: 1, lang: 'perl', script: 'print 1' }))).toMatch(
      /^could not start: the language "perl" is not configured/,
    );
  });

  it.each(['constructor', 'toString', 'hasOwnProperty'])('%j (a name every object has) is not a language either', async (lang) => {
    expect(await notStartedBecause(makeRunner().start({ taskId: `proto-${lang}`, run: 1, lang, script: 'x' }))).toMatch(
      `could not start: the language "${lang}" is not configured`,
    );
  });
});
