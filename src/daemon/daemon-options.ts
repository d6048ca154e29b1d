/**
 * The daemon's options, in one table: for each, its flag, environment variable, config-file
 * key, default, help and kind of value (how it is parsed, and its schema in the config file).
 * Everything else reads it: the `daemon` command builds its flags and their help from it,
 * resolve-daemon-config.ts takes each setting from the first source that sets it
 *
 *     flag  >  environment variable  >  config file (--config)  >  default
 *
 * the config file's schema (config-schema.ts) takes its keys from it, and
 * `optionsTableMarkdown` renders it for docs/configuration.md (`npm run docs`), so that none
 * can disagree.
 */
import { resolve } from 'node:path';
import { parseByteSize } from '../core/byte-size.js';
import { parseDuration } from '../core/duration.js';
import { SchedulerError } from '../core/errors.js';
import { sandboxModes, type SandboxMode } from '../core/execution-input.js';
import { defaultDataDir, parseListen, parseWholeNumber, readTokenFile } from './daemon-config.js';
import { defaultMaxRuns } from './default-max-runs.js';

export const durabilityModes = ['normal', 'full'] as const;
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** The two values of a switch, such as --dashboard. */
export const switchModes = ['on', 'off'] as const;

/** The value of each option once parsed. */
export interface DaemonOptionValues {
  listen: { host: string; port: number };
  dataDir: string;
  token: string | undefined;
  config: string | undefined;
  maxRuns: number;
  sandbox: SandboxMode;
  keepRuns: number;
  outputCap: number;
  maxOutputTotal: number;
  heartbeat: number;
  maxScriptBytes: number;
  killGrace: number;
  durability: (typeof durabilityModes)[number];
  logLevel: (typeof logLevels)[number];
  store: StoreAddress | undefined;
  storePoolSize: number;
  lease: number;
  leaseRenew: number;
  nodeHeartbeat: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  sessionTtl: number;
  dashboard: (typeof switchModes)[number];
}

/** A PostgreSQL store: the server's URL (without the `schema` parameter) and the schema of the tables. */
export interface StoreAddress {
  url: string;
  schema: string;
}

/** The name of an option (its key in DaemonOptionValues). */
export type OptionName = keyof DaemonOptionValues;

/** Where a value is read from; paths given there are relative to `base`. */
export interface Origin {
  /** How messages name it: `--listen`, `SCHEDULER_LISTEN`, `--config FILE: "listen"`. */
  label: string;
  base: string;
}

/**
 * How the config file may write a value, from which config-schema.ts makes its schema (kept
 * apart from the schema library, which the client commands that read this table never load).
 */
export interface ConfigForm {
  /** The string format it is checked with (config-check.ts, by the parser the value then goes through). */
  format?: 'whole-number' | 'byte-size' | 'duration' | 'positive-duration' | 'listen';
  /** Also a JSON number: a whole one or any, of at least `minimum`. */
  number?: { whole: boolean; minimum: number };
  /** Also a JSON boolean, read as one of the choices: `"dashboard": false` as `off`. */
  boolean?: { true: string; false: string };
  /** What it must be, as refusals say it; `example` is the option's default, when it has one as text. */
  describe(example: string | undefined): string;
}

/** What an option's value is: how its text is read, and how the config file may write it. */
export interface ValueKind<T> {
  parse(text: string, origin: Origin): T;
  inConfig: ConfigForm;
  /** The values it takes, when they are few. */
  choices?: readonly string[];
}

/** One row of the table. */
export interface DaemonOption<K extends OptionName = OptionName> {
  name: K;
  /** The long flag, e.g. `--listen`. */
  flag: string;
  /** What the flag takes, e.g. `HOST:PORT`. */
  value: string;
  env: string;
  /** Its key in the config file (dotted for a nested one); none for --config itself. */
  configKey?: string;
  /** The default as text, parsed like any other value; a function when it depends on the host; none: unset. */
  default?: string | ((env: NodeJS.ProcessEnv) => string);
  /** The default as the docs say it, when that is not the text itself. */
  defaultDoc?: string;
  help: string;
  kind: ValueKind<DaemonOptionValues[K]>;
  /** The environment variable holds something other than the flag's value (the token itself, not its file). */
  parseEnv?(text: string, origin: Origin): DaemonOptionValues[K];
  /** What the env column of the docs says, when parseEnv differs from parse. */
  envDoc?: string;
}

// The string formats named here are checked by config-schema.ts with the same parsers.
const wholeNumber: ValueKind<number> = {
  parse: (text, { label }) => parseWholeNumber(text, label),
  inConfig: { format: 'whole-number', number: { whole: true, minimum: 1 }, describe: () => 'a whole number of at least 1' },
};
const byteSize: ValueKind<number> = {
  parse: (text, { label }) => parseByteSize(text, label),
  // Any number, as before: a fraction of a byte is rounded down like "1.5" is.
  inConfig: { format: 'byte-size', number: { whole: false, minimum: 0 }, describe: (example) => `a byte size such as "${example}", or a number of bytes` },
};
const duration: ValueKind<number> = {
  parse: (text, { label }) => parseDuration(text, label),
  inConfig: { format: 'duration', describe: (example) => `a duration such as "${example}"` },
};
const positiveDuration: ValueKind<number> = {
  parse: (text, origin) => {
    const ms = duration.parse(text, origin);
    if (ms <= 0) throw new SchedulerError('invalid_request', `${origin.label}: must be longer than 0`);
    return ms;
  },
  inConfig: { format: 'positive-duration', describe: (example) => `a duration longer than 0 such as "${example}"` },
};
function choice<T extends string>(choices: readonly T[]): ValueKind<T> {
  return {
    parse: (text, { label }) => {
      if (!(choices as readonly string[]).includes(text)) {
        throw new SchedulerError('invalid_request', `${label}: "${text}" is not one of ${choices.join(', ')}`);
      }
      return text as T;
    },
    inConfig: { describe: () => `one of ${choices.join(', ')}` },
    choices,
  };
}
/** A switch: `on` or `off`, which a config file, being JSON, may also write as true or false. */
function onOff(): ValueKind<(typeof switchModes)[number]> {
  const kind = choice(switchModes);
  return { ...kind, inConfig: { boolean: { true: 'on', false: 'off' }, describe: () => 'on or off (or true or false)' } };
}
const path: ValueKind<string> = {
  parse: (text, { label, base }) => {
    if (text.length === 0) throw new SchedulerError('invalid_request', `${label}: the path is empty`);
    return resolve(base, text);
  },
  inConfig: { describe: () => 'a path (a relative one is relative to the config file)' },
};
const listen: ValueKind<{ host: string; port: number }> = {
  parse: (text, { label }) => parseListen(text, label),
  inConfig: { format: 'listen', describe: (example) => `HOST:PORT such as "${example}"` },
};
const tokenFile: ValueKind<string | undefined> = {
  parse: (text, origin) => readTokenFile(path.parse(text, origin), origin.label),
  inConfig: path.inConfig,
};

const postgresUrl: ValueKind<StoreAddress | undefined> = {
  parse: (text, { label }) => parseStoreAddress(text, label),
  inConfig: { describe: () => 'a URL such as "postgres://user@host:5432/database"' },
};

/**
 * A `postgres://` URL; its `schema` query parameter (ours, not libpq's, so taken out before
 * the URL reaches the driver) names the schema of the tables, `scheduler` by default.
 */
export function parseStoreAddress(text: string, label: string): StoreAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SchedulerError('invalid_request', `${label}: "${text}" is not a URL; write it as postgres://user@host:port/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new SchedulerError('invalid_request', `${label}: the store must be a postgres:// URL (without --store the daemon keeps its tasks in SQLite in the data directory), not ${url.protocol}//`);
  }
  const schema = url.searchParams.get('schema') ?? 'scheduler';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new SchedulerError('invalid_request', `${label}: schema "${schema}" must be lower-case letters, digits and _, starting with a letter or _, at most 63`);
  }
  url.searchParams.delete('schema');
  return { url: url.toString(), schema };
}

function option<K extends OptionName>(row: DaemonOption<K>): DaemonOption<K> {
  return row;
}

/** Every option of `scheduler daemon`, in the order of its help. */
export const daemonOptions = [
  option({
    name: 'listen', flag: '--listen', value: 'HOST:PORT', env: 'SCHEDULER_LISTEN', configKey: 'listen', default: '127.0.0.1:8865',
    help: 'address to listen on; `:0` picks a free port. Anything but loopback requires a token.',
    kind: listen,
  }),
  option({
    name: 'dataDir', flag: '--data-dir', value: 'DIR', env: 'SCHEDULER_DATA_DIR', configKey: 'dataDir',
    default: (env) => defaultDataDir(env), defaultDoc: '`$XDG_DATA_HOME/scheduler` or `~/.local/share/scheduler`',
    help: 'where the database and spooled output live',
    kind: path,
  }),
  option({
    name: 'token', flag: '--token-file', value: 'FILE', env: 'SCHEDULER_TOKEN', configKey: 'tokenFile', defaultDoc: 'none',
    help: 'require the bearer token in FILE on every request but /healthz',
    envDoc: '`SCHEDULER_TOKEN` (the token itself)',
    kind: tokenFile,
    parseEnv: (text) => text,
  }),
  option({
    name: 'config', flag: '--config', value: 'FILE', env: 'SCHEDULER_CONFIG', defaultDoc: 'none',
    help: 'a JSON config file: these options, and languages, variables for every run, queues, default limits, sandbox paths',
    kind: path,
  }),
  option({
    name: 'maxRuns', flag: '--max-runs', value: 'N', env: 'SCHEDULER_MAX_RUNS', configKey: 'maxRuns',
    default: () => String(defaultMaxRuns()), defaultDoc: 'twice the CPUs, at least 4',
    help: 'runs executing at once, over every queue; later ones wait in order',
    kind: wholeNumber,
  }),
  option({
    name: 'sandbox', flag: '--sandbox', value: 'MODE', env: 'SCHEDULER_SANDBOX', configKey: 'sandbox.mode', default: 'optional',
    help: 'optional: tasks opt in with --sandbox; default: tasks opt out with --no-sandbox; required: every task is sandboxed',
    kind: choice(sandboxModes),
  }),
  option({
    name: 'keepRuns', flag: '--keep-runs', value: 'N', env: 'SCHEDULER_KEEP_RUNS', configKey: 'keepRuns', default: '100',
    help: 'results kept per task; older ones are pruned',
    kind: wholeNumber,
  }),
  option({
    name: 'outputCap', flag: '--output-cap', value: 'SIZE', env: 'SCHEDULER_OUTPUT_CAP', configKey: 'outputCap', default: '1MiB',
    help: 'bytes of stdout and of stderr kept per run: half from the start, half from the end',
    kind: byteSize,
  }),
  option({
    name: 'maxOutputTotal', flag: '--max-output-total', value: 'SIZE', env: 'SCHEDULER_MAX_OUTPUT_TOTAL', configKey: 'maxOutputTotal', default: '1GiB',
    help: 'output kept by all runs together; the oldest runs lose theirs first',
    kind: byteSize,
  }),
  option({
    name: 'heartbeat', flag: '--heartbeat', value: 'DURATION', env: 'SCHEDULER_HEARTBEAT', configKey: 'heartbeat', default: '15s',
    help: 'between keep-alive comments on idle event streams',
    kind: positiveDuration,
  }),
  option({
    name: 'maxScriptBytes', flag: '--max-script-bytes', value: 'SIZE', env: 'SCHEDULER_MAX_SCRIPT_BYTES', configKey: 'maxScriptBytes', default: '256KiB',
    help: 'largest script accepted (request bodies are bounded accordingly)',
    kind: byteSize,
  }),
  option({
    name: 'killGrace', flag: '--kill-grace', value: 'DURATION', env: 'SCHEDULER_KILL_GRACE', configKey: 'killGrace', default: '5s',
    help: "between TERM and KILL when a run's processes are ended",
    kind: duration,
  }),
  option({
    name: 'durability', flag: '--durability', value: 'MODE', env: 'SCHEDULER_DURABILITY', configKey: 'durability', default: 'normal',
    help: 'normal: what is acknowledged survives a daemon crash; full: also a power cut (slower)',
    kind: choice(durabilityModes),
  }),
  option({
    name: 'store', flag: '--store', value: 'URL', env: 'SCHEDULER_STORE', configKey: 'store', defaultDoc: 'SQLite in the data directory',
    help: 'keep tasks in PostgreSQL (postgres://user@host/db, `?schema=NAME` for a schema other than `scheduler`), shared by every daemon given the same URL',
    kind: postgresUrl,
  }),
  option({
    name: 'storePoolSize', flag: '--store-pool-size', value: 'N', env: 'SCHEDULER_STORE_POOL_SIZE', configKey: 'storePoolSize', default: '10',
    help: 'connections to PostgreSQL this daemon opens at most',
    kind: wholeNumber,
  }),
  option({
    name: 'lease', flag: '--lease', value: 'DURATION', env: 'SCHEDULER_LEASE', configKey: 'lease', default: '30s',
    help: 'on PostgreSQL: how long a run stays this daemon\'s without a renewal; after it, another daemon records the run interrupted',
    kind: positiveDuration,
  }),
  option({
    name: 'leaseRenew', flag: '--lease-renew', value: 'DURATION', env: 'SCHEDULER_LEASE_RENEW', configKey: 'leaseRenew', default: '10s',
    help: 'on PostgreSQL: between renewals of the leases of this daemon\'s runs (shorter than --lease)',
    kind: positiveDuration,
  }),
  option({
    name: 'nodeHeartbeat', flag: '--node-heartbeat', value: 'DURATION', env: 'SCHEDULER_NODE_HEARTBEAT', configKey: 'nodeHeartbeat', default: '5s',
    help: 'between the heartbeats this daemon records in the store (`scheduler nodes`); it is listed as stale after 3 missed ones',
    kind: positiveDuration,
  }),
  option({
    name: 'tlsCert', flag: '--tls-cert', value: 'FILE', env: 'SCHEDULER_TLS_CERT', configKey: 'tlsCert', defaultDoc: 'none: plain HTTP',
    help: 'serve HTTPS with the certificate (its chain, PEM) in FILE, with --tls-key; both files are read again on SIGHUP',
    kind: path,
  }),
  option({
    name: 'tlsKey', flag: '--tls-key', value: 'FILE', env: 'SCHEDULER_TLS_KEY', configKey: 'tlsKey', defaultDoc: 'none',
    help: 'the private key (PEM) of --tls-cert',
    kind: path,
  }),
  option({
    name: 'sessionTtl', flag: '--session-ttl', value: 'DURATION', env: 'SCHEDULER_SESSION_TTL', configKey: 'sessionTtl', default: '12h',
    help: 'how long a browser stays logged in after POST /api/session (the dashboard\'s login)',
    kind: positiveDuration,
  }),
  option({
    name: 'dashboard', flag: '--dashboard', value: 'MODE', env: 'SCHEDULER_DASHBOARD', configKey: 'dashboard', default: 'on',
    help: 'on: serve the web dashboard at /; off: serve the API alone (a daemon no browser should reach)',
    kind: onOff(),
  }),
  option({
    name: 'logLevel', flag: '--log-level', value: 'LEVEL', env: 'SCHEDULER_LOG_LEVEL', configKey: 'logLevel', default: 'info',
    help: 'JSON logs (pino) on stderr from this level up: fatal, error, warn, info, debug, trace or silent',
    kind: choice(logLevels),
  }),
] as const satisfies readonly DaemonOption[];

/** The rows, each typed as any row (the table's own type keeps each row's value type). */
export const optionRows: readonly DaemonOption[] = daemonOptions;

/** The help of a row's flag: what it does, its default, and its other sources. */
export function optionHelp(row: DaemonOption): string {
  const byDefault = row.defaultDoc ?? (typeof row.default === 'string' ? row.default : 'none');
  const sources = [`$${row.env}${row.parseEnv ? ' (the token itself)' : ''}`, ...(row.configKey ? [`config "${row.configKey}"`] : [])];
  return `${row.help.replace(/`/g, '')} (default: ${byDefault.replace(/`/g, '')}; or ${sources.join(', ')})`;
}

/** The table as markdown, for docs/configuration.md: one row per option. */
export function optionsTableMarkdown(): string {
  const code = (text: string) => `\`${text}\``;
  const lines = ['| flag | environment | config key | default | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const row of optionRows) {
    // A few choices are shown as they are; a long list is in the help.
    const choices = row.kind.choices;
    const value = choices && choices.length <= 3 ? choices.join('\\|') : row.value;
    const byDefault = row.defaultDoc ?? (typeof row.default === 'string' ? code(row.default) : 'none');
    const cells = [code(`${row.flag} ${value}`), row.envDoc ?? code(row.env), row.configKey ? code(row.configKey) : '', byDefault, row.help.replace(/\|/g, '\\|')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
