/**
 * The bubblewrap sandbox with real bwrap and real processes: what a script inside can see,
 * write, reach and signal, who it is, and that nothing it starts outlives the sandbox.
 * Nothing sleeps to synchronise: every wait polls a condition (a file appears, a process
 * shows up in /proc or is gone) with a deadline.
 *
 * Processes the scripts leave behind are found from the host by their argv[0], set to a
 * marker unique to this file (`exec -a MARKER sleep 300`); whatever a broken sandbox left
 * running is killed by that marker after each test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { giveToSandboxUser, installationDirsOf, probeSandbox, sandboxCommand, sandboxUid, type SandboxOptions } from '../../src/runner/sandbox.js';
import { isProcessAlive, processGroupOf } from '../support/processes.js';
import { withDeadline } from '../support/wait.js';
import { isRoot, itAsRoot, rootNote } from '../support/root.js';

const marker = `sandbox-test-${randomUUID()}`;

let root: string;
/** Stands for the daemon's data directory: the scratch directories of runs are inside it. */
let dataDir: string;
let runCount = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scheduler-sandbox-test-'));
  dataDir = join(root, 'data');
  mkdirSync(join(dataDir, 'scratch'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'scheduler.db'), 'the daemon database', { mode: 0o600 });
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Processes this file started (by their own process group, all detached), killed at the end of each test. */
const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  // A sandbox that failed to kill what it held: end it here rather than leave it to the machine.
  for (const pid of markedProcesses(marker, true)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A fresh scratch directory for one run, owned by the sandbox's user. */
function newScratch(): string {
  const dir = join(dataDir, 'scratch', `run-${++runCount}`);
  mkdirSync(dir, { mode: 0o700 });
  giveToSandboxUser(dir);
  return dir;
}

function options(overrides: Partial<SandboxOptions> = {}): SandboxOptions {
  return { scratchDir: overrides.scratchDir ?? newScratch(), network: false, readOnlyFiles: [], extraReadOnlyDirs: [], ...overrides };
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `command` in the sandbox, in its own process group, as the daemon's gate would. */
function start(sandbox: SandboxOptions, command: string[], spawnOptions: { uid?: number; gid?: number; daemonUid?: number } = {}): { child: ChildProcess; ended: Promise<Ended> } {
  const argv = [...sandboxCommand(sandbox, spawnOptions.daemonUid), ...command];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, HOME: sandbox.scratchDir, TMPDIR: '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(spawnOptions.uid !== undefined ? { uid: spawnOptions.uid, gid: spawnOptions.gid } : {}),
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, ended: withDeadline(ended) };
}

function bash(sandbox: SandboxOptions, script: string): Promise<Ended> {
  return start(sandbox, ['/bin/bash', '-c', script]).ended;
}

/** The lines "key value" of a script's output, as a map. */
function report(stdout: string): Map<string, string> {
  return new Map(stdout.trim().split('\n').map((line) => {
    const space = line.indexOf(' ');
    return space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
  }));
}

// ------------------------------------------------------------------ /proc helpers

/** Host pids of live processes whose argv[0] is `argv0` (or starts with it). */
function markedProcesses(argv0: string, prefix = false): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      const name = cmdline[0] ?? '';
      if ((prefix ? name.startsWith(argv0) : name === argv0) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return pids;
}

/** Bash that starts a daemon (own session, double fork) named `name`, and waits until it runs. */
function daemonise(name: string): string {
  return `(setsid bash -c 'echo $BASHPID > daemon.pid; exec -a ${name} sleep 300' </dev/null >/dev/null 2>&1 &)
    until [ -s daemon.pid ] && tr '\\0' ' ' < /proc/$(cat daemon.pid)/cmdline 2>/dev/null | grep -q '^${name} '; do sleep 0.01; done`;
}

// ------------------------------------------------------------------ the argv

/** Whether `argv` holds `run` as consecutive elements. */
function hasRun(argv: string[], run: string[]): boolean {
  return argv.some((_, i) => run.every((word, j) => argv[i + j] === word));
}

describe('installationDirsOf', () => {
  it('finds the installation of each interpreter outside the system directories, through PATH and links', () => {
    const root = mkdtempSync(join(tmpdir(), 'scheduler-interpreters-'));
    try {
      // PREFIX/bin/tool, and a link to PREFIX2/bin/other from a directory of links.
      for (const prefix of ['tools', 'other']) {
        mkdirSync(join(root, prefix, 'bin'), { recursive: true });
        writeFileSync(join(root, prefix, 'bin', prefix), '#!/bin/sh\n', { mode: 0o755 });
      }
      mkdirSync(join(root, 'links', 'bin'), { recursive: true });
      symlinkSync(join(root, 'other', 'bin', 'other'), join(root, 'links', 'bin', 'other'));
      const path = [join(root, 'tools', 'bin'), join(root, 'links', 'bin'), '/usr/bin', '/bin'].join(':');
      expect(installationDirsOf(['tools', 'other', 'bash', 'sh', 'no-such-interpreter'], path)).toEqual(
        [join(root, 'links'), join(root, 'other'), join(root, 'tools')].sort(),
      );
      expect(installationDirsOf([join(root, 'tools', 'bin', 'tools')], '')).toEqual([join(root, 'tools')]);
      expect(installationDirsOf(['/usr/bin/env'], '')).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('sandboxCommand', () => {
  const scratchDir = '/var/lib/scheduler/scratch/t.1';
  const base: SandboxOptions = { scratchDir, network: false, readOnlyFiles: ['/var/lib/scheduler/spool/t.1.ab12.sh'], extraReadOnlyDirs: ['/root/.local/interp'] };

  it('builds the bwrap argv: namespaces, an allow-list of system directories, scratch read-write, nobody without capabilities', () => {
    const argv = sandboxCommand(base, 0);
    const bwrap = argv.findIndex((word) => word.endsWith('/bwrap') || word === 'bwrap');
    const end = argv.indexOf('--', bwrap);
    expect(argv.slice(1, bwrap)).toEqual(['--ignore-signal=TERM']);
    expect(argv[0]).toMatch(/\/env$/);
    const flags = argv.slice(bwrap + 1, end);
    for (const flag of ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-net', '--die-with-parent']) expect(flags).toContain(flag);
    for (const absent of ['--new-session', '--clearenv', '--unshare-user', '--share-net', '--as-pid-1']) expect(flags).not.toContain(absent);
    // Not the host's / as a whole, only the allow-list, each as the host has it.
    expect(flags.filter((word, i) => word === '/' && flags[i - 1] !== '--remount-ro')).toEqual([]);
    for (const dir of ['/usr', '/etc', '/opt', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
      const stat = lstatSync(dir, { throwIfNoEntry: false });
      if (stat === undefined) expect(flags).not.toContain(dir);
      else if (stat.isSymbolicLink()) expect(hasRun(flags, ['--symlink', readlinkSync(dir), dir])).toBe(true);
      else expect(hasRun(flags, ['--ro-bind', dir, dir])).toBe(true);
    }
    for (const hidden of ['/home', '/root', '/var', '/srv', '/mnt', '/run', '/sys', '/work']) expect(hasRun(flags, ['--ro-bind', hidden, hidden])).toBe(false);
    expect(hasRun(flags, ['--proc', '/proc', '--dev', '/dev'])).toBe(true);
    expect(hasRun(flags, ['--perms', '1777', '--size', String(256 * 1024 * 1024), '--tmpfs', '/tmp'])).toBe(true);
    expect(hasRun(flags, ['--ro-bind', '/root/.local/interp', '/root/.local/interp'])).toBe(true);
    expect(hasRun(flags, ['--ro-bind', base.readOnlyFiles[0]!, base.readOnlyFiles[0]!])).toBe(true);
    expect(hasRun(flags, ['--bind', scratchDir, scratchDir])).toBe(true);
    expect(hasRun(flags, ['--chdir', scratchDir])).toBe(true);
    // Parents bwrap would make 0700 (root's), which nobody could not traverse, are made 0755 first.
    for (const parent of ['/root', '/root/.local', '/var', '/var/lib', '/var/lib/scheduler', '/var/lib/scheduler/scratch', '/var/lib/scheduler/spool']) {
      expect(hasRun(flags, ['--perms', '0755', '--dir', parent])).toBe(true);
    }
    expect(flags.indexOf('--remount-ro')).toBeGreaterThan(flags.lastIndexOf('--bind'));
    // Only what setpriv needs to become nobody, which then drops everything.
    expect(hasRun(flags, ['--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP', '--cap-add', 'CAP_DAC_READ_SEARCH'])).toBe(true);
    const inside = argv.slice(end + 1);
    expect(inside[1]).toBe('--default-signal=TERM');
    expect(inside.slice(3)).toEqual([`--reuid=${sandboxUid}`, `--regid=${sandboxUid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--']);
  });

  it('keeps the network namespace only when asked', () => {
    expect(sandboxCommand(base, 0)).toContain('--unshare-net');
    const withNetwork = sandboxCommand({ ...base, network: true }, 0);
    expect(withNetwork).not.toContain('--unshare-net');
    expect(withNetwork).toContain('--unshare-pid');
    expect(withNetwork.filter((word) => word !== '--unshare-net')).toEqual(expect.arrayContaining(sandboxCommand(base, 0).filter((word) => word !== '--unshare-net')));
  });

  it('for a daemon that is not root: a user namespace that cannot make more, no capabilities, no change of user', () => {
    const argv = sandboxCommand(base, 1000);
    expect(hasRun(argv, ['--unshare-user', '--disable-userns', '--cap-drop', 'ALL', '--'])).toBe(true);
    expect(argv).not.toContain('--cap-add');
    expect(argv.some((word) => word.endsWith('setpriv'))).toBe(false);
    expect(argv.slice(-3)).toEqual([argv[0], '--default-signal=TERM', '--']);
  });

  it('refuses relative paths and a scratch directory that would expose the system read-write', () => {
    expect(() => sandboxCommand({ ...base, scratchDir: 'scratch' }, 0)).toThrow(/absolute/);
    expect(() => sandboxCommand({ ...base, readOnlyFiles: ['x.sh'] }, 0)).toThrow(/absolute/);
    for (const scratch of ['/', '/etc', '/usr/local/x', '/etc/']) expect(() => sandboxCommand({ ...base, scratchDir: scratch }, 0)).toThrow(/expose/);
    expect(() => sandboxCommand({ ...base, extraReadOnlyDirs: ['/'] }, 0)).toThrow(/as a whole/);
  });
});

// ------------------------------------------------------------------ real bwrap

describe('the sandbox, with real bwrap', () => {
  it('is available on this host', () => {
    const probe = probeSandbox();
    expect(probe).toEqual({ available: true, version: expect.stringMatching(/^\d+\.\d+/) });
    expect(probeSandbox()).toBe(probe);
  });

  it('writes only in its scratch directory and its private /tmp; leaves nothing else in scratch', async () => {
    const other = mkdtempSync(join(tmpdir(), 'scheduler-sandbox-other-'));
    chmodSync(other, 0o777); // were it visible, nobody could write it
    const name = `sandbox-test-${randomUUID()}`;
    const sandbox = options();
    const targets = [`/etc/${name}`, `/usr/${name}`, `/opt/${name}`, `/${name}`, `${other}/${name}`, `${dataDir}/${name}`];
    try {
      const result = await bash(sandbox, `
        echo hello > out && echo "scratch ok"
        echo hello > "$HOME/out2" && rm "$HOME/out2" && echo "home ok"
        echo hello > /tmp/t && echo "tmp ok"
        echo hello > /dev/shm/t && echo "shm ok"
        for target in ${targets.join(' ')}; do
          if { echo x > "$target"; } 2>/dev/null || mkdir "$target" 2>/dev/null; then echo "wrote $target"; else echo "denied $target"; fi
        done
        echo "pwd $PWD"`);
      expect(result.code).toBe(0);
      const seen = report(result.stdout);
      for (const ok of ['scratch', 'home', 'tmp', 'shm']) expect(seen.get(ok)).toBe('ok');
      for (const target of targets) expect(result.stdout).toContain(`denied ${target}`);
      expect(result.stdout).not.toContain('wrote');
      expect(seen.get('pwd')).toBe(sandbox.scratchDir);
      for (const target of targets) expect(existsSync(target)).toBe(false);
      expect(readdirSync(sandbox.scratchDir)).toEqual(['out']);
      expect(readFileSync(join(sandbox.scratchDir, 'out'), 'utf8')).toBe('hello\n');
    } finally {
      rmSync(other, { recursive: true, force: true });
      for (const target of targets) if (target.startsWith('/') && !target.startsWith(other)) rmSync(target, { recursive: true, force: true });
    }
  });

  it('has a private /tmp: the host /tmp is not there, and what it writes there stays inside', async () => {
    const hostFile = `/tmp/sandbox-test-host-${randomUUID()}`;
    const innerFile = `/tmp/sandbox-test-inner-${randomUUID()}`;
    writeFileSync(hostFile, 'host');
    try {
      const result = await bash(options(), `
        [ -e ${hostFile} ] && echo "host visible" || echo "host absent"
        echo inner > ${innerFile} && echo "inner written"
        echo "entries $(ls -A /tmp | tr '\\n' ' ')"`);
      const seen = report(result.stdout);
      expect([seen.get('host'), seen.get('inner')]).toEqual(['absent', 'written']);
      // Besides its own file, only the (empty) parents of the scratch directory when it is under /tmp.
      const parents = dataDir.startsWith('/tmp/') ? [dataDir.split('/')[2]!] : [];
      expect(seen.get('entries')!.split(' ').filter(Boolean).sort()).toEqual([innerFile.slice('/tmp/'.length), ...parents].sort());
      expect(existsSync(innerFile)).toBe(false);
    } finally {
      rmSync(hostFile, { force: true });
      rmSync(innerFile, { force: true });
    }
  });

  it("does not show the daemon's data directory, other runs' scratch, home directories or /var", async () => {
    const otherRun = newScratch();
    writeFileSync(join(otherRun, 'other-output'), 'not yours');
    const sandbox = options();
    const result = await bash(sandbox, `
      echo "data $(ls -A ${dataDir} | tr '\\n' ' ')"
      echo "scratch $(ls -A ${dataDir}/scratch | tr '\\n' ' ')"
      cat ${dataDir}/scheduler.db >/dev/null 2>&1 && echo "db read" || echo "db unreadable"
      cat ${otherRun}/other-output >/dev/null 2>&1 && echo "other read" || echo "other unreadable"
      for dir in /root /home /var /srv /mnt /run /sys /work; do [ -e "$dir" ] && echo "present $dir" || echo "absent $dir"; done
      echo "root $(ls -A / | tr '\\n' ' ')"`);
    expect(result.code).toBe(0);
    const seen = report(result.stdout);
    expect(seen.get('data')).toBe('scratch ');
    expect(seen.get('scratch')).toBe(`${sandbox.scratchDir.split('/').pop()} `);
    expect(seen.get('db')).toBe('unreadable');
    expect(seen.get('other')).toBe('unreadable');
    expect(result.stdout).not.toContain('present');
    const hostTop = dataDir.split('/')[1]!; // the parents of the scratch directory, made empty
    const expected = new Set(['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'proc', 'sbin', 'tmp', 'usr', hostTop].filter((entry) => existsSync(`/${entry}`)));
    expect(seen.get('root')!.split(' ').filter(Boolean).sort()).toEqual([...expected].sort());
  });

  it(`runs as nobody without capabilities: a visible root-only file and /etc/shadow are unreadable${rootNote('nobody and the unreadable root-only file are checked')}`, async () => {
    const secretDir = join(root, 'spool');
    mkdirSync(secretDir, { mode: 0o700 });
    const secret = join(secretDir, 'root-only.txt');
    writeFileSync(secret, 'root only', { mode: 0o600 });
    const result = await bash(options({ readOnlyFiles: [secret] }), `
      echo "uid $(id -u)"; echo "gid $(id -g)"; echo "groups $(id -G)"
      grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status | tr -d '\\t' | tr ':' ' '
      [ -e ${secret} ] && echo "secret-exists yes"
      cat ${secret} >/dev/null 2>&1 && echo "secret-read yes" || echo "secret-read no"
      [ -e /etc/shadow ] && echo "shadow-exists yes"
      cat /etc/shadow >/dev/null 2>&1 && echo "shadow-read yes" || echo "shadow-read no"
      { echo x > ${secret}; } 2>/dev/null && echo "secret-write yes" || echo "secret-write no"`);
    const seen = report(result.stdout);
    expect(result.code).toBe(0);
    if (isRoot) {
      expect([seen.get('uid'), seen.get('gid'), seen.get('groups')]).toEqual(['65534', '65534', '65534']);
    }
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(seen.get(set)).toBe('0000000000000000');
    expect(seen.get('NoNewPrivs')).toBe('1');
    expect(seen.get('secret-exists')).toBe('yes');
    expect(seen.get('secret-read')).toBe(isRoot ? 'no' : 'yes');
    expect(seen.get('secret-write')).toBe('no');
    expect([seen.get('shadow-exists'), seen.get('shadow-read')]).toEqual(['yes', 'no']);
    expect(readFileSync(secret, 'utf8')).toBe('root only');
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections++;
        socket.end('hello from the host\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    const connect = () => `if exec 3<>/dev/tcp/127.0.0.1/${port}; then echo "connected"; head -n 1 <&3; else echo "refused"; fi 2>/dev/null`;

    it('without network: a connection to a host port on 127.0.0.1 fails', async () => {
      const before = connections;
      const result = await bash(options(), `${connect()}; ip -o link 2>/dev/null | cut -d: -f2 | tr -d ' ' | tr '\\n' ' '; echo`);
      expect(result.stdout.split('\n')[0]).toBe('refused');
      if (existsSync('/usr/bin/ip') || existsSync('/usr/sbin/ip') || existsSync('/sbin/ip')) expect(result.stdout.split('\n')[1]).toBe('lo ');
      expect(connections).toBe(before);
    });

    it('with network: the connection is made', async () => {
      const before = connections;
      const result = await bash(options({ network: true }), connect());
      expect(result.stdout).toBe('connected\nhello from the host\n');
      expect(connections).toBe(before + 1);
    });
  });

  it('sees only its own processes and cannot signal a host process', async () => {
    const host = spawn('sleep', ['300'], { stdio: 'ignore', detached: true });
    started.push(host);
    const hostPid = host.pid!;
    const result = await bash(options(), `
      echo "pids $(ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' ')"
      echo "ps $(ps -e -o pid= | wc -l)"
      kill -0 ${hostPid} 2>/dev/null && echo "host visible" || echo "host invisible"
      kill -KILL ${hostPid} 2>/dev/null && echo "host killed" || echo "host unkillable"
      kill -KILL 1 2>/dev/null && echo "init killed" || echo "init unkillable"
      [ -e /proc/${hostPid} ] && echo "proc visible" || echo "proc invisible"`);
    const seen = report(result.stdout);
    // init (bwrap), this bash, and the pipeline of the first line.
    const pids = seen.get('pids')!.trim().split(' ').map(Number);
    expect(pids.length).toBeLessThanOrEqual(8);
    expect(Math.max(...pids)).toBeLessThan(20);
    expect(pids[0]).toBe(1);
    expect(Number(seen.get('ps'))).toBeLessThanOrEqual(5);
    expect([seen.get('host'), seen.get('proc'), seen.get('init')]).toEqual(['unkillable', 'invisible', 'unkillable']);
    expect(result.stdout).toContain('host invisible');
    expect(isProcessAlive(hostPid)).toBe(true);
  });

  describe('ending', () => {
    it('passes the exit status through; a signal death comes back as 128+N; a setup failure as 1 with bwrap saying why', async () => {
      expect((await bash(options(), 'exit 7')).code).toBe(7);
      const term = await bash(options(), 'kill -TERM $$');
      expect([term.code, term.signal]).toEqual([143, null]);
      const killed = await bash(options(), 'kill -KILL $$');
      expect([killed.code, killed.signal]).toEqual([137, null]);
      const missing = await bash(options({ extraReadOnlyDirs: [join(root, 'no-such-dir')] }), 'exit 0');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^bwrap: Can't find source path .*no-such-dir/);
      const notFound = await start(options(), ['/no/such/interpreter']).ended;
      expect(notFound.code).toBe(127);
    });

    it('when the main process exits, what it left running (daemonised) is killed with it', async () => {
      const name = `${marker}-left`;
      const result = await bash(options(), `${daemonise(name)}; echo "daemon $(cat daemon.pid)"; (exec -a ${marker}-bg sleep 300) & exit 3`);
      expect(result.code).toBe(3);
      expect(report(result.stdout).get('daemon')).toMatch(/^\d+$/);
      await vi.waitFor(() => expect([...markedProcesses(name), ...markedProcesses(`${marker}-bg`)]).toEqual([]), { timeout: 5_000, interval: 10 });
    });

    it('a KILL to the process group kills every process inside, a daemonised grandchild included', async () => {
      const name = `${marker}-group`;
      const sandbox = options();
      const { child, ended } = start(sandbox, ['/bin/bash', '-c', `${daemonise(name)}; echo ready > ready; exec -a ${marker}-main sleep 300`]);
      await vi.waitFor(() => {
        expect(markedProcesses(name)).toHaveLength(1);
        expect(markedProcesses(`${marker}-main`)).toHaveLength(1);
      }, { timeout: 5_000, interval: 10 });
      const [daemon] = markedProcesses(name);
      // It left the group: the group's KILL alone does not reach it.
      expect(processGroupOf(daemon!)).not.toBe(child.pid);
      expect(processGroupOf(markedProcesses(`${marker}-main`)[0]!)).toBe(child.pid);
      process.kill(-child.pid!, 'SIGKILL');
      expect((await ended).signal).toBe('SIGKILL');
      await vi.waitFor(() => expect([...markedProcesses(name), ...markedProcesses(`${marker}-main`)]).toEqual([]), { timeout: 5_000, interval: 10 });
      expect(readdirSync(sandbox.scratchDir).sort()).toEqual(['daemon.pid', 'ready']);
    });

    it('a KILL to bwrap alone kills everything inside (it dies with its parent)', async () => {
      const name = `${marker}-alone`;
      const { child, ended } = start(options(), ['/bin/bash', '-c', `${daemonise(name)}; exec -a ${marker}-main2 sleep 300`]);
      await vi.waitFor(() => {
        expect(markedProcesses(name)).toHaveLength(1);
        expect(markedProcesses(`${marker}-main2`)).toHaveLength(1);
      }, { timeout: 5_000, interval: 10 });
      process.kill(child.pid!, 'SIGKILL');
      expect((await ended).signal).toBe('SIGKILL');
      await vi.waitFor(() => expect([...markedProcesses(name), ...markedProcesses(`${marker}-main2`)]).toEqual([]), { timeout: 5_000, interval: 10 });
    });

    it('a TERM to the process group reaches the script, which can clean up before it exits', async () => {
      const sandbox = options();
      const { child, ended } = start(sandbox, ['/bin/bash', '-c', `trap 'sleep 0.2; echo done > cleaned; exit 7' TERM; echo ready > ready; (exec -a ${marker}-term sleep 300) & wait $!`]);
      await vi.waitFor(() => expect(existsSync(join(sandbox.scratchDir, 'ready'))).toBe(true), { timeout: 5_000, interval: 10 });
      process.kill(-child.pid!, 'SIGTERM');
      const result = await ended;
      expect([result.code, result.signal]).toEqual([7, null]);
      expect(readFileSync(join(sandbox.scratchDir, 'cleaned'), 'utf8')).toBe('done\n');
    });
  });

  describe('interpreters', () => {
    /** A script file as the runner writes it: 0600 in a 0700 spool directory. */
    function scriptFile(name: string, text: string): string {
      const spool = join(root, `spool-${randomUUID()}`);
      mkdirSync(spool, { mode: 0o700 });
      const file = join(spool, name);
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    }

    it('node, from /usr/bin, reads its script file', async () => {
      const file = scriptFile('a.js', "require('fs').writeFileSync('from-node', String(6 * 7)); console.log(process.cwd());");
      giveToSandboxUser(file);
      const sandbox = options({ readOnlyFiles: [file] });
      const result = await start(sandbox, ['/usr/bin/node', file]).ended;
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`${sandbox.scratchDir}\n`);
      expect(readFileSync(join(sandbox.scratchDir, 'from-node'), 'utf8')).toBe('42');
    });

    const python = spawnSync('python3', ['-c', 'import os, sys; print(sys.base_prefix); print(os.path.realpath(sys.executable))'], { encoding: 'utf8' });
    const [prefix, executable] = python.status === 0 ? python.stdout.trim().split('\n') : [];

    it(`python under an extra read-only directory; a script file not handed over is unreadable${rootNote('the refusal of the file not handed over is checked')}`, async () => {
      expect(python.status, `python3 is needed (the interpreters' tests use it too): ${python.stderr ?? python.error}`).toBe(0);
      const file = scriptFile('a.py', "open('from-python', 'w').write('ok'); import os; print(os.getcwd())");
      const sandbox = options({ readOnlyFiles: [file], extraReadOnlyDirs: [prefix!] });
      const refused = await start(sandbox, [executable!, file]).ended;
      if (isRoot) {
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/Permission denied/);
      }
      giveToSandboxUser(file);
      const result = await start(sandbox, [executable!, file]).ended;
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`${sandbox.scratchDir}\n`);
      expect(readFileSync(join(sandbox.scratchDir, 'from-python'), 'utf8')).toBe('ok');
    });
  });

  itAsRoot('for a daemon that is not root: its own uid, no capabilities, no nested user namespace', async () => {
    const scratchDir = mkdtempSync(join(tmpdir(), 'scheduler-sandbox-user-'));
    giveToSandboxUser(scratchDir); // the daemon's user, here nobody, owns its scratch
    try {
      const { ended } = start(options({ scratchDir }), ['/bin/bash', '-c', `
        echo "uid $(id -u)"
        echo "CapEff $(grep CapEff /proc/self/status | cut -f2)"
        unshare -U true 2>/dev/null && echo "userns made" || echo "userns refused"
        echo x > out && echo "scratch ok"
        { echo x > /out; } 2>/dev/null && echo "root written" || echo "root readonly"`], { uid: sandboxUid, gid: sandboxUid, daemonUid: sandboxUid });
      const result = await ended;
      expect(result.stderr).toBe('');
      expect(report(result.stdout)).toEqual(new Map([['uid', '65534'], ['CapEff', '0000000000000000'], ['userns', 'refused'], ['scratch', 'ok'], ['root', 'readonly']]));
    } finally {
      rmSync(scratchDir, { recursive: true, force: true });
    }
  });
});
