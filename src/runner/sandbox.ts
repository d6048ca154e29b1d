/**
 * The bubblewrap sandbox of a run: the argv prefix that runs a command in it, and a probe of
 * whether it works on this host.
 *
 * What the command sees:
 * - the system read-only, through an allow-list (/usr, /etc, /opt and /bin, /sbin, /lib,
 *   /lib32, /lib64, /libx32, each when it exists; a merged-/usr symlink stays a symlink),
 *   plus the caller's interpreter directories and script files, read-only at the same path.
 *   Nothing else of the host: no /home, /root, /var, /srv, /mnt, /run, /sys, no data directory;
 * - its scratch directory read-write, as the working directory (the caller sets HOME to it,
 *   and TMPDIR to /tmp: the environment is the caller's, passed to spawn, not cleared here);
 * - a private /tmp and /dev/shm (tmpfs, size-capped), a minimal /dev, its own /proc;
 * - new PID, IPC, UTS, cgroup and (unless `network`) network namespaces: no other process
 *   is visible or can be signalled; without network there is only a loopback of its own.
 *
 * Identity. A daemon running as root runs bwrap without a user namespace (bwrap maps the
 * sandbox's uid to the caller's real uid, so `--unshare-user --uid 65534` under root would
 * still be host uid 0 and read every root-owned file, /etc/shadow included). Instead, after
 * the mounts, `setpriv` switches to uid/gid 65534 (nobody/nogroup) with no supplementary
 * groups, an empty bounding set and no capabilities; bwrap hands it only the four it needs
 * (CAP_SETUID, CAP_SETGID, CAP_SETPCAP to empty the bounding set, CAP_DAC_READ_SEARCH to
 * enter the scratch directory, which belongs to nobody). The script is then really nobody to
 * the kernel: root-only files that are visible stay unreadable. The scratch directory and the
 * read-only files must therefore be accessible to that user: see `giveToSandboxUser`.
 * A daemon that is not root cannot change user: bwrap then makes a user namespace in which
 * the script keeps the daemon's uid without capabilities, and cannot make further user
 * namespaces (`--disable-userns`).
 *
 * Ending. Without `--new-session` everything the script starts stays in the run's process
 * group (the gate shell's, which exec's into this argv). The outer bwrap ignores TERM (it is
 * started through `env --ignore-signal=TERM`; the command gets TERM back to default through
 * `env --default-signal=TERM`), so a TERM to the group reaches the script, which can clean up
 * during the grace period; the later KILL kills the outer bwrap, and `--die-with-parent` then
 * kills the namespace's init, with which the kernel kills every process in the PID namespace,
 * including those that left the group (setsid, double fork). When the script's main process
 * exits, bwrap's init exits with it and whatever it left behind is killed at once (KILL, no
 * grace). If the daemon itself dies, `--die-with-parent` ends its sandboxed runs too.
 *
 * Exit status as the caller sees it (the outer bwrap's):
 * - the command exits with N: bwrap exits with N;
 * - the command is killed by signal S: bwrap exits with 128+S (TERM: 143, KILL: 137), a code,
 *   not a signal, so it cannot be told apart from a script that exits 128+S itself;
 * - the outer bwrap killed (the group KILL): a signal death, SIGKILL;
 * - bwrap cannot set up the sandbox (a missing source path, namespaces refused): exit 1 with
 *   "bwrap: REASON" on stderr; the command cannot be executed: 127 (not found) or 126, with
 *   "setpriv: failed to execute ..." or "env: ..." on stderr.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdtempSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, normalize } from 'node:path';

/** What one sandboxed run may see. Every path is absolute. */
export interface SandboxOptions {
  /**
   * The run's private writable directory: bound read-write, and the working directory inside.
   * It must belong to the sandbox's user (`giveToSandboxUser`); set HOME to it in the environment.
   * It cannot be /, a system directory or inside one.
   */
  scratchDir: string;
  /** Keep the host network (default: a new, empty network namespace: no connection possible). */
  network: boolean;
  /** Files bound read-only into the sandbox at the same path (e.g. the script file the interpreter reads); the sandbox's user must be able to read them (`giveToSandboxUser`). */
  readOnlyFiles: string[];
  /** Host directories that hold interpreters to make visible read-only when outside the usual system dirs (e.g. a python under ~/.pyenv); may be empty. */
  extraReadOnlyDirs: string[];
  /** Size of each of the private /tmp and /dev/shm (tmpfs, in memory); 256 MiB when absent. */
  tmpSizeBytes?: number;
  /** The bwrap program; found in PATH (then /usr/bin, /usr/local/bin, /bin) when absent. */
  bwrap?: string;
}

/** The user a root daemon's sandboxed scripts run as: nobody/nogroup. */
export const sandboxUid = 65534;
export const sandboxGid = 65534;

export const defaultTmpSizeBytes = 256 * 1024 * 1024;

/** The system directories visible read-only, when they exist; anything else of the host is absent. */
const systemDirs = ['/usr', '/etc', '/opt', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** The mount points the sandbox makes itself. */
const ownMounts = ['/proc', '/dev', '/tmp'];

function currentUid(): number {
  return process.getuid?.() ?? -1;
}

/** The uid and gid the scripts of a daemon running as `daemonUid` have in the sandbox. */
export function sandboxIdentity(daemonUid: number = currentUid()): { uid: number; gid: number } {
  if (daemonUid === 0) return { uid: sandboxUid, gid: sandboxGid };
  return { uid: daemonUid, gid: process.getgid?.() ?? daemonUid };
}

/**
 * Makes a file or directory the caller created (the scratch directory, a script file)
 * belong to the sandbox's user, so the script can write it (scratch) or read it (a 0600
 * script file). Nothing to do when the daemon is not root: the script keeps its uid.
 */
export function giveToSandboxUser(path: string, daemonUid: number = currentUid()): void {
  if (daemonUid !== 0) return;
  chownSync(path, sandboxUid, sandboxGid);
}

/**
 * The argv prefix that runs a command in the sandbox; the caller appends the command (an
 * absolute path is safest: it is looked up in the caller's PATH, inside the sandbox) and
 * spawns the whole with its own environment. It starts with `env --ignore-signal=TERM bwrap`
 * and ends with `--` (see the module comment for why). Reads the host's layout (which system
 * directories exist, which are symlinks); throws on a path that is not absolute or a scratch
 * directory that would expose the system read-write.
 */
export function sandboxCommand(options: SandboxOptions, daemonUid: number = currentUid()): string[] {
  const scratchDir = checkedPath(options.scratchDir, 'scratchDir');
  if (scratchDir === '/' || systemDirs.some((dir) => isWithin(dir, scratchDir))) {
    throw new Error(`the sandbox's scratch directory cannot be ${scratchDir}: it would expose system directories read-write`);
  }
  const extraDirs = options.extraReadOnlyDirs.map((dir) => checkedPath(dir, 'extraReadOnlyDirs'));
  if (extraDirs.includes('/')) throw new Error('the sandbox cannot show / as a whole');
  const files = options.readOnlyFiles.map((file) => checkedPath(file, 'readOnlyFiles'));
  const tmpSize = options.tmpSizeBytes ?? defaultTmpSizeBytes;
  if (!Number.isSafeInteger(tmpSize) || tmpSize <= 0) throw new Error(`tmpSizeBytes must be a positive integer, not ${tmpSize}`);

  const args: string[] = [];
  /** Host paths mounted at the same place: what lies under them exists inside as on the host. */
  const bound: string[] = [];
  /** Directories made inside with --dir (and the sandbox's own mounts). */
  const made = new Set<string>(['/', ...ownMounts, '/dev/shm']);

  // Parents of a mount point that are not there yet: bwrap would make them 0700 root, which
  // nobody cannot traverse; make them 0755 first.
  const makeParents = (path: string): void => {
    const missing: string[] = [];
    for (let dir = dirname(path); !made.has(dir) && !bound.some((b) => isWithin(b, dir)); dir = dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      args.push('--perms', '0755', '--dir', dir);
      made.add(dir);
    }
  };
  const bind = (flag: '--ro-bind' | '--bind', source: string, dest: string = source): void => {
    if (bound.includes(dest)) return;
    makeParents(dest);
    args.push(flag, source, dest);
    bound.push(dest);
  };

  // The system, read-only: real directories first, then the symlinks of a merged /usr, which
  // stay symlinks when they point into what is already visible.
  const links: string[] = [];
  for (const dir of systemDirs) {
    const kind = kindOf(dir);
    if (kind === 'directory') bind('--ro-bind', dir);
    else if (kind === 'symlink') links.push(dir);
  }
  for (const link of links) {
    let target: string;
    try {
      target = realpathSync(link);
    } catch {
      continue; // dangling: nothing to show
    }
    if (bound.some((dir) => isWithin(dir, target))) args.push('--symlink', readlinkSync(link), link);
    else bind('--ro-bind', target, link);
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--perms', '1777', '--size', String(tmpSize), '--tmpfs', '/tmp');
  args.push('--perms', '1777', '--size', String(tmpSize), '--tmpfs', '/dev/shm');

  for (const dir of extraDirs) {
    if (!bound.some((b) => isWithin(b, dir))) bind('--ro-bind', dir);
  }
  if (options.network) {
    // DNS: on systemd hosts /etc/resolv.conf points into /run, which is not there otherwise.
    const resolver = resolvedOrNull('/etc/resolv.conf');
    if (resolver !== null && !bound.some((b) => isWithin(b, resolver))) bind('--ro-bind', resolver);
  }
  bind('--bind', scratchDir);
  // After the scratch directory: a file under it is shown over it rather than hidden by it.
  for (const file of files) bind('--ro-bind', file);
  // The sandbox's own root (a tmpfs holding the mount points) read-only too.
  args.push('--remount-ro', '/');
  args.push('--chdir', scratchDir);

  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  if (!options.network) args.push('--unshare-net');
  args.push('--die-with-parent');

  const env = findExecutable('env', ['/usr/bin', '/bin']);
  if (daemonUid === 0) {
    args.push('--cap-drop', 'ALL');
    for (const cap of ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_DAC_READ_SEARCH']) args.push('--cap-add', cap);
    const setpriv = findExecutable('setpriv', ['/usr/bin', '/bin', '/usr/sbin', '/sbin']);
    return [
      env, '--ignore-signal=TERM', options.bwrap ?? findBwrap(), ...args, '--',
      env, '--default-signal=TERM',
      setpriv, `--reuid=${sandboxUid}`, `--regid=${sandboxGid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
    ];
  }
  args.push('--unshare-user', '--disable-userns', '--cap-drop', 'ALL');
  // env's first operand is the command: one with a "=" would be taken for a variable.
  return [env, '--ignore-signal=TERM', options.bwrap ?? findBwrap(), ...args, '--', env, '--default-signal=TERM', '--'];
}

/**
 * The installation directories of the interpreters `commands` (each a program name or
 * path, found in `searchPath` like a shell would) that lie outside the system directories
 * the sandbox shows: without them a sandboxed script could not start its interpreter (a
 * python under ~/.pyenv, a node under ~/.nvm). For a program at PREFIX/bin/NAME, or a link
 * to one, that is PREFIX: the whole installation, whose libraries the program needs (a
 * pyenv shim runs PREFIX/libexec/pyenv). Programs not found are left out: their runs fail
 * saying so; so is a PREFIX that is a home directory (a program in ~/bin), which must be
 * listed in the config file's sandbox.readOnlyPaths if it is really meant.
 */
export function installationDirsOf(commands: readonly string[], searchPath: string): string[] {
  const dirs = new Set<string>();
  for (const command of commands) {
    const found = isAbsolute(command) ? command : searchPath.split(delimiter).filter(isAbsolute).map((dir) => join(dir, command)).find(existsSync);
    if (found === undefined || !existsSync(found)) continue;
    for (const path of new Set([found, realpathSync(found)])) {
      if (systemDirs.some((dir) => isWithin(dir, path))) continue;
      const bin = dirname(path);
      dirs.add(bin === '/' ? bin : dirname(bin));
    }
  }
  // A program in ~/bin would make that the whole home directory: never guessed, only listed.
  return [...dirs].filter((dir) => dir !== '/' && !isHomeDirectory(dir)).sort();
}

/** /root, /home/NAME, or the daemon user's home. */
function isHomeDirectory(dir: string): boolean {
  return dir === '/root' || /^\/home\/[^/]+$/.test(dir) || dir === homedir();
}

export type SandboxProbe = { available: true; version: string } | { available: false; reason: string };

/** Each bwrap program's answer, kept for the process. */
const probed = new Map<string, SandboxProbe>();

/**
 * Whether bubblewrap is installed and the sandbox works on this host: runs `bwrap --version`,
 * then `true` in a sandbox built exactly as runs get it. When not, the reason says what to
 * install or what bwrap complained about. Synchronous; the answer is kept for the process.
 */
export function probeSandbox(bwrap: string = findBwrap()): SandboxProbe {
  let answer = probed.get(bwrap);
  if (!answer) probed.set(bwrap, (answer = probe(bwrap)));
  return answer;
}

function probe(bwrap: string): SandboxProbe {
  const version = spawnSync(bwrap, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (version.error) {
    if ((version.error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { available: false, reason: 'bubblewrap is not installed: apt-get install bubblewrap (or dnf install bubblewrap)' };
    }
    return { available: false, reason: `bwrap --version failed: ${version.error.message}` };
  }
  if (version.status !== 0) return { available: false, reason: `bwrap --version failed: ${(version.stderr || version.stdout).trim()}` };
  const number = /\d+(\.\d+)+/.exec(version.stdout)?.[0] ?? version.stdout.trim();

  const scratchDir = mkdtempSync(join(tmpdir(), 'scheduler-sandbox-probe-'));
  try {
    giveToSandboxUser(scratchDir);
    const argv = [...sandboxCommand({ scratchDir, network: false, readOnlyFiles: [], extraReadOnlyDirs: [], bwrap }), '/bin/sh', '-c', 'exit 0'];
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error) return { available: false, reason: `bubblewrap ${number} could not be started: ${result.error.message}` };
    if (result.status !== 0) {
      const said = (result.stderr || result.stdout).trim() || `exit status ${result.status ?? result.signal}`;
      if (/unknown option/i.test(said)) return { available: false, reason: `bubblewrap ${number} is too old: ${said} (the sandbox needs bubblewrap 0.8 or later)` };
      return { available: false, reason: `bubblewrap ${number} does not work on this host: ${said}` };
    }
    return { available: true, version: number };
  } catch (error) {
    return { available: false, reason: `the sandbox could not be tried: ${(error as Error).message}` };
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

function checkedPath(path: string, what: string): string {
  if (!isAbsolute(path)) throw new Error(`${what}: the sandbox needs absolute paths, not ${JSON.stringify(path)}`);
  const clean = normalize(path);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** Whether `path` is `dir` or lies under it. */
function isWithin(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function kindOf(path: string): 'directory' | 'symlink' | 'other' | 'missing' {
  try {
    const stat = lstatSync(path);
    return stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

function resolvedOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/** bwrap from the daemon's PATH, then the usual places; the bare name if nowhere (spawn then says ENOENT). */
function findBwrap(): string {
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => isAbsolute(dir));
  return findExecutable('bwrap', [...path, '/usr/bin', '/usr/local/bin', '/bin']);
}

/** The first of `dirs` that holds `name`; the bare name if none does. */
function findExecutable(name: string, dirs: string[]): string {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return name;
}
