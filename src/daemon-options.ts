/**
 * The daemon's options, in one table: for each, its flag, environment variable, config-file
 * key, default, help and parser. The `daemon` command builds its flags from it and resolves
 * its settings with it, each from the first source that sets it:
 *
 *     flag  >  environment variable  >  config file (--config)  >  default
 *
 * and `optionsTableMarkdown` renders it for the README, so that the three cannot disagree.
 */
import { dirname, resolve } from 'node:path';
import { parseByteSize } from './core/byte-size.js';
import { parseDuration } from './core/duration.js';
import { SchedulerError } from './core/errors.js';
import { sandboxModes, type SandboxMode } from './core/execution-input.js';
import { parseConfigObject, readConfigObject, type ConfigFile } from './config-file.js';
import { defaultDataDir, parseListen, readTokenFile, type DaemonConfig } from './daemon-config.js';
import { defaultMaxRuns } from './runner/concurrency-gate.js';

export const durabilityModes = ['normal', 'full'] as const;
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
}

type Name = keyof DaemonOptionValues;

/** Where a value is read from; paths given there are relative to `base`. */
interface Origin {
  /** How messages name it: `--listen`, `SCHEDULER_LISTEN`, `--config FILE: "listen"`. */
  label: string;
  base: string;
}

/** One row of the table. */
export interface DaemonOption<K extends Name = Name> {
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
  choices?: readonly string[];
  /** The config file may give it as a JSON number (a count, or bytes). */
  numberInConfig?: boolean;
  parse(text: string, origin: Origin): DaemonOptionValues[K];
  /** The environment variable holds something other than the flag's value (the token itself, not its file). */
  parseEnv?(text: string, origin: Origin): DaemonOptionValues[K];
  /** What the env column of the docs says, when parseEnv differs from parse. */
  envDoc?: string;
}

const wholeNumber = (text: string, { label }: Origin): number => {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new SchedulerError('invalid_request', `${label}: "${text}" is not a whole number of at least 1`);
  }
  return n;
};
const byteSize = (text: string, { label }: Origin): number => parseByteSize(text, label);
const duration = (text: string, { label }: Origin): number => parseDuration(text, label);
const positiveDuration = (text: string, origin: Origin): number => {
  const ms = duration(text, origin);
  if (ms <= 0) throw new SchedulerError('invalid_request', `${origin.label}: must be longer than 0`);
  return ms;
};
const choice =
  <T extends string>(choices: readonly T[]) =>
  (text: string, { label }: Origin): T => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new SchedulerError('invalid_request', `${label}: "${text}" is not one of ${choices.join(', ')}`);
    }
    return text as T;
  };
const path = (text: string, { label, base }: Origin): string => {
  if (text.length === 0) throw new SchedulerError('invalid_request', `${label}: the path is empty`);
  return resolve(base, text);
};

function option<K extends Name>(row: DaemonOption<K>): DaemonOption<K> {
  return row;
}

/** Every option of `scheduler daemon`, in the order of its help. */
export const daemonOptions = [
  option({
    name: 'listen', flag: '--listen', value: 'HOST:PORT', env: 'SCHEDULER_LISTEN', configKey: 'listen', default: '127.0.0.1:8865',
    help: 'address to listen on; `:0` picks a free port. Anything but loopback requires a token.',
    parse: (text, { label }) => parseListen(text, label),
  }),
  option({
    name: 'dataDir', flag: '--data-dir', value: 'DIR', env: 'SCHEDULER_DATA_DIR', configKey: 'dataDir',
    default: (env) => defaultDataDir(env), defaultDoc: '`$XDG_DATA_HOME/scheduler` or `~/.local/share/scheduler`',
    help: 'where the database and spooled output live',
    parse: path,
  }),
  option({
    name: 'token', flag: '--token-file', value: 'FILE', env: 'SCHEDULER_TOKEN', configKey: 'tokenFile', defaultDoc: 'none',
    help: 'require the bearer token in FILE on every request but /healthz',
    envDoc: '`SCHEDULER_TOKEN` (the token itself)',
    parse: (text, origin) => readTokenFile(path(text, origin), origin.label),
    parseEnv: (text) => text,
  }),
  option({
    name: 'config', flag: '--config', value: 'FILE', env: 'SCHEDULER_CONFIG', defaultDoc: 'none',
    help: 'a JSON config file: these options, and languages, variables for every run, queues, default limits, sandbox paths',
    parse: path,
  }),
  option({
    name: 'maxRuns', flag: '--max-runs', value: 'N', env: 'SCHEDULER_MAX_RUNS', configKey: 'maxRuns', numberInConfig: true,
    default: () => String(defaultMaxRuns()), defaultDoc: 'twice the CPUs, at least 4',
    help: 'runs executing at once, over every queue; later ones wait in order',
    parse: wholeNumber,
  }),
  option({
    name: 'sandbox', flag: '--sandbox', value: 'MODE', env: 'SCHEDULER_SANDBOX', configKey: 'sandbox.mode', default: 'optional', choices: sandboxModes,
    help: 'optional: tasks opt in with --sandbox; default: tasks opt out with --no-sandbox; required: every task is sandboxed',
    parse: choice(sandboxModes),
  }),
  option({
    name: 'keepRuns', flag: '--keep-runs', value: 'N', env: 'SCHEDULER_KEEP_RUNS', configKey: 'keepRuns', numberInConfig: true, default: '100',
    help: 'results kept per task; older ones are pruned',
    parse: wholeNumber,
  }),
  option({
    name: 'outputCap', flag: '--output-cap', value: 'SIZE', env: 'SCHEDULER_OUTPUT_CAP', configKey: 'outputCap', numberInConfig: true, default: '1MiB',
    help: 'bytes of stdout and of stderr kept per run: half from the start, half from the end',
    parse: byteSize,
  }),
  option({
    name: 'maxOutputTotal', flag: '--max-output-total', value: 'SIZE', env: 'SCHEDULER_MAX_OUTPUT_TOTAL', configKey: 'maxOutputTotal', numberInConfig: true, default: '1GiB',
    help: 'output kept by all runs together; the oldest runs lose theirs first',
    parse: byteSize,
  }),
  option({
    name: 'heartbeat', flag: '--heartbeat', value: 'DURATION', env: 'SCHEDULER_HEARTBEAT', configKey: 'heartbeat', default: '15s',
    help: 'between keep-alive comments on idle event streams',
    parse: positiveDuration,
  }),
  option({
    name: 'maxScriptBytes', flag: '--max-script-bytes', value: 'SIZE', env: 'SCHEDULER_MAX_SCRIPT_BYTES', configKey: 'maxScriptBytes', numberInConfig: true, default: '256KiB',
    help: 'largest script accepted (request bodies are bounded accordingly)',
    parse: byteSize,
  }),
  option({
    name: 'killGrace', flag: '--kill-grace', value: 'DURATION', env: 'SCHEDULER_KILL_GRACE', configKey: 'killGrace', default: '5s',
    help: "between TERM and KILL when a run's processes are ended",
    parse: duration,
  }),
  option({
    name: 'durability', flag: '--durability', value: 'MODE', env: 'SCHEDULER_DURABILITY', configKey: 'durability', default: 'normal', choices: durabilityModes,
    help: 'normal: what is acknowledged survives a daemon crash; full: also a power cut (slower)',
    parse: choice(durabilityModes),
  }),
  option({
    name: 'logLevel', flag: '--log-level', value: 'LEVEL', env: 'SCHEDULER_LOG_LEVEL', configKey: 'logLevel', default: 'info', choices: logLevels,
    help: 'JSON logs (pino) on stderr from this level up: fatal, error, warn, info, debug, trace or silent',
    parse: choice(logLevels),
  }),
] as const satisfies readonly DaemonOption[];

/** The keys of the config file that set options. */
export const optionConfigKeys: readonly string[] = daemonOptions.flatMap((row) => (row.configKey === undefined ? [] : [row.configKey]));

/** Where the daemon's options come from. */
export interface OptionSources {
  /** The flags given, by option name, as text. */
  flags: Partial<Record<Name, string>>;
  env: NodeJS.ProcessEnv;
  /** Relative paths in flags and variables are relative to this directory. */
  cwd: string;
}

/** The daemon's settings, each from the first source that sets it (see the module comment). */
export function resolveDaemonConfig({ flags, env, cwd }: OptionSources): DaemonConfig {
  const here = (label: string): Origin => ({ label, base: cwd });
  const fromFlagOrEnv = <K extends Name>(row: DaemonOption<K>): DaemonOptionValues[K] | undefined => {
    const flag = flags[row.name];
    if (flag !== undefined) return row.parse(flag, here(row.flag));
    const variable = env[row.env];
    // An empty variable is an unset one (`SCHEDULER_X= scheduler daemon`).
    if (variable !== undefined && variable !== '') return (row.parseEnv ?? row.parse)(variable, here(row.env));
    return undefined;
  };

  const configRow = daemonOptions.find((row) => row.name === 'config')!;
  const configPath = fromFlagOrEnv(configRow);
  const fileObject = configPath === undefined ? {} : readConfigObject(configPath);
  const file: ConfigFile = parseConfigObject(fileObject, optionConfigKeys);
  const fileOrigin = (key: string): Origin => ({ label: `--config ${configPath}: "${key}"`, base: configPath === undefined ? cwd : dirname(configPath) });

  const values: Partial<Record<Name, unknown>> = { config: configPath };
  for (const row of daemonOptions as readonly DaemonOption[]) {
    if (row.name === 'config') continue;
    let value = fromFlagOrEnv(row);
    if (value === undefined && row.configKey !== undefined) {
      const raw = valueAt(fileObject, row.configKey);
      if (raw !== undefined) value = row.parse(configText(raw, row, fileOrigin(row.configKey).label), fileOrigin(row.configKey));
    }
    if (value === undefined && row.default !== undefined) {
      const text = typeof row.default === 'function' ? row.default(env) : row.default;
      value = row.parse(text, here(`the default of ${row.flag}`));
    }
    values[row.name] = value;
  }
  const v = values as DaemonOptionValues;
  return {
    ...file,
    host: v.listen.host,
    port: v.listen.port,
    dataDir: v.dataDir,
    token: v.token,
    configFile: v.config,
    maxRuns: v.maxRuns,
    sandboxMode: v.sandbox,
    keepRuns: v.keepRuns,
    outputCap: v.outputCap,
    maxOutputBytes: v.maxOutputTotal,
    heartbeatMs: v.heartbeat,
    maxScriptBytes: v.maxScriptBytes,
    killGraceMs: v.killGrace,
    durability: v.durability,
    logLevel: v.logLevel,
  };
}

/** A config-file value as the text a flag would give. */
function configText(raw: unknown, row: DaemonOption, label: string): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' && row.numberInConfig === true) return String(raw);
  const example = row.numberInConfig === true ? `a number or a string such as "${String(row.default ?? '')}"` : `a string such as "${typeof row.default === 'string' ? row.default : 'value'}"`;
  throw new SchedulerError('invalid_request', `${label} must be ${example}`);
}

/** The value at a dotted key of a JSON object, if there is one. */
function valueAt(object: Record<string, unknown>, key: string): unknown {
  let value: unknown = object;
  for (const part of key.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The table as markdown, for the README: one row per option. */
export function optionsTableMarkdown(): string {
  const code = (text: string) => `\`${text}\``;
  const lines = ['| flag | environment | config key | default | meaning |', '| --- | --- | --- | --- | --- |'];
  for (const row of daemonOptions as readonly DaemonOption[]) {
    // A few choices are shown as they are; a long list is in the help.
    const value = row.choices && row.choices.length <= 3 ? row.choices.join('\\|') : row.value;
    const byDefault = row.defaultDoc ?? (typeof row.default === 'string' ? code(row.default) : 'none');
    const cells = [code(`${row.flag} ${value}`), row.envDoc ?? code(row.env), row.configKey ? code(row.configKey) : '', byDefault, row.help.replace(/\|/g, '\\|')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
