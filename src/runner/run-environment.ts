/**
 * The environment a run's script gets, built explicitly rather than inherited: the daemon's
 * own environment may hold secrets (its token, credentials of whoever started it), and a
 * script must see none of them. A run gets:
 *
 * 1. the base: PATH, LANG, LANGUAGE, TZ and LC_* passed through from the daemon (PATH
 *    defaulting to /usr/local/bin:/usr/bin:/bin), then HOME, USER, LOGNAME and SHELL of the
 *    user the script runs as (in the sandbox, HOME is its scratch directory);
 * 2. the variables of the daemon's config file (`env`), for every task;
 * 3. the task's own (`--env`, `--env-file`), which win over both;
 * 4. SCHEDULER_TASK_ID, SCHEDULER_RUN and SCHEDULER_DAEMON_ID, which the daemon sets last
 *    (it finds the processes of its runs by the last one).
 */
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';

/** A user scripts can run as, as the host's user database has it. */
export interface UserAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Variables passed through from the daemon's environment: none of them holds a secret. */
const passedThrough = ['PATH', 'LANG', 'LANGUAGE', 'TZ'];
const defaultPath = '/usr/local/bin:/usr/bin:/bin';

/** What the environment of one run is built from. */
export interface RunEnvironmentParts {
  /** The daemon's own environment, from which only the base variables are read. */
  daemonEnv: NodeJS.ProcessEnv;
  /** The user the script runs as. */
  user: Pick<UserAccount, 'name' | 'home' | 'shell'>;
  /** HOME when it is not the user's (the sandbox's scratch directory). */
  home?: string;
  /** The daemon config's variables for every run. */
  daemonVariables: Readonly<Record<string, string>>;
  /** The task's own variables. */
  taskVariables: Readonly<Record<string, string>>;
  /** SCHEDULER_* variables of the run. */
  runVariables: Readonly<Record<string, string>>;
}

/**
 * The variables passed through from each daemon environment seen, read once: listing
 * `process.env` asks the C library for every variable, which cost a burst of 1,000 runs
 * tens of milliseconds. The daemon's environment does not change once it runs.
 */
const passedThroughOf = new WeakMap<NodeJS.ProcessEnv, Readonly<Record<string, string>>>();

function passedThroughVariables(daemonEnv: NodeJS.ProcessEnv): Readonly<Record<string, string>> {
  let variables = passedThroughOf.get(daemonEnv);
  if (!variables) {
    const found: Record<string, string> = {};
    for (const [name, value] of Object.entries(daemonEnv)) {
      if (value !== undefined && (passedThrough.includes(name) || name.startsWith('LC_'))) found[name] = value;
    }
    found.PATH ??= defaultPath;
    variables = found;
    passedThroughOf.set(daemonEnv, variables);
  }
  return variables;
}

/** The environment of one run (see the module comment for the order). */
export function runEnvironment(parts: RunEnvironmentParts): Record<string, string> {
  // Object.assign into a new object rather than spreads (see core/with-fields.ts).
  const account = { HOME: parts.home ?? parts.user.home, USER: parts.user.name, LOGNAME: parts.user.name, SHELL: parts.user.shell };
  return Object.assign({}, passedThroughVariables(parts.daemonEnv), account, parts.daemonVariables, parts.taskVariables, parts.runVariables);
}

/** The daemon's own user. */
export function daemonAccount(): UserAccount {
  const info = userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir, shell: info.shell ?? '/bin/sh' };
}

/**
 * Looks `name` up in the host's user database (getent: /etc/passwd, and LDAP or whatever
 * else NSS is set up with); undefined when there is no such user.
 */
export function lookUpUser(name: string): UserAccount | undefined {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return undefined; // exit 2: no such user
  }
  // name:password:uid:gid:gecos:home:shell
  const fields = line.trim().split('\n')[0]!.split(':');
  if (fields.length < 7) return undefined;
  const [account, , uid, gid, , home, shell] = fields as [string, string, string, string, string, string, string];
  return { name: account, uid: Number(uid), gid: Number(gid), home, shell: shell || '/bin/sh' };
}

/**
 * Whether this daemon can run scripts as `name`: null when it can, else why not. Only
 * root can switch users; any daemon can run scripts as itself.
 */
export function checkRunAsUser(name: string, daemon: UserAccount = daemonAccount()): string | null {
  const account = lookUpUser(name);
  if (!account) return `there is no user "${name}" on this host`;
  if (account.uid === daemon.uid || daemon.uid === 0) return null;
  return `the daemon runs as ${daemon.name}, not as root, so it can run scripts only as ${daemon.name}; start the daemon as root to run them as ${name}`;
}
