/**
 * The daemon's config file (`--config FILE`, JSON), for what does not fit a flag:
 *
 * ```json
 * {
 *   "interpreters": { "ruby": ["ruby"], "python": ["python3", "-u"] },
 *   "env": { "PGHOST": "db.internal" },
 *   "queues": { "gpu": 1, "backups": 2 },
 *   "limits": { "cpu": "10m", "memory": "2GiB", "processes": 256, "openFiles": 1024, "output": "100MiB", "timeout": "1h" },
 *   "sandbox": { "readOnlyPaths": ["/opt/tools"], "bwrap": "/usr/bin/bwrap" }
 * }
 * ```
 *
 * It may also set the daemon's options (`"listen"`, `"maxRuns"`, `"sandbox": {"mode": ...}`,
 * ...: the table of daemon-options.ts); a flag or an environment variable wins over them.
 *
 * Every key is optional. The file is checked against its schema (config-schema.ts) before
 * anything is read from it: an unknown key or a bad value stops the daemon with a message
 * naming it, before it listens.
 */
import { readFileSync } from 'node:fs';
import { SchedulerError } from '../core/errors.js';
import { parseExecution } from '../core/execution-input.js';
import { defaultQueue } from '../core/execution.js';
import { parseDuration } from '../core/duration.js';
import { builtInInterpreters } from '../core/interpreters.js';
import { checkConfigObject } from './config-check.js';
import type { ConfigObject } from './config-schema.js';
import type { ConfigFile } from './daemon-config.js';
import { optionRows, type OptionName } from './daemon-options.js';

/** A config file as read: its own settings, and the options it sets, as the text a flag would give. */
export interface ConfigFileContents {
  settings: ConfigFile;
  options: Partial<Record<OptionName, string>>;
}

/** The settings without a file: the built-in languages, and nothing else. */
export const noConfigFile: ConfigFile = { interpreters: builtInInterpreters, env: {}, queues: {}, limits: {}, sandboxReadOnlyPaths: [], tokens: [], hideOutputFromViewers: false };

/** The settings of `path` (but the options); the built-in ones when there is no file. */
export function loadConfigFile(path: string | undefined): ConfigFile {
  return path === undefined ? noConfigFile : readConfigFile(path).settings;
}

/** Reads, checks and converts the config file at `path`; invalid_request naming the key of the first fault. */
export function readConfigFile(path: string): ConfigFileContents {
  const label = `--config ${path}`;
  const object = checkConfigObject(readJson(path), label);
  return { settings: settingsOf(object, label), options: optionsOf(object) };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SchedulerError('invalid_request', `--config: cannot read ${path} as JSON: ${(error as Error).message}`);
  }
}

/** The file's own settings, converted (their shape and formats are already checked). */
function settingsOf(object: ConfigObject, label: string): ConfigFile {
  // The same rules as a task's own variables and limits, beyond what the schema says (a
  // variable's reserved prefix, CPU time in whole seconds).
  const execution = checked(label, () => parseExecution({ env: object.env ?? {}, limits: limitsOf(object) }, anyCapabilities));
  const timeout = object.limits?.timeout;
  return {
    // Built by fromEntries, so that every name is an own property, "__proto__" too.
    interpreters: Object.fromEntries([...Object.entries(builtInInterpreters), ...Object.entries(object.interpreters ?? {})]),
    env: execution.env,
    queues: Object.fromEntries(Object.entries(object.queues ?? {})),
    limits: execution.limits,
    ...(timeout === undefined ? {} : { timeoutMs: parseDuration(timeout, 'limits.timeout') }),
    sandboxReadOnlyPaths: object.sandbox?.readOnlyPaths ?? [],
    tokens: checked(label, () => distinctTokens(object.tokens ?? [])),
    hideOutputFromViewers: object.hideOutputFromViewers ?? false,
    ...(object.sandbox?.bwrap === undefined ? {} : { bwrap: object.sandbox.bwrap }),
  };
}

/** The file's tokens; two with one name, or one token under two names, are refused. */
function distinctTokens(tokens: NonNullable<ConfigObject['tokens']>) {
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const token of tokens) {
    if (names.has(token.name)) throw new SchedulerError('invalid_request', `tokens: the name "${token.name}" is given twice`);
    if (hashes.has(token.sha256)) throw new SchedulerError('invalid_request', `tokens: "${token.name}" has the sha256 of another token`);
    names.add(token.name);
    hashes.add(token.sha256);
  }
  return tokens.map(({ name, role, sha256 }) => ({ name, role, sha256 }));
}

function limitsOf(object: ConfigObject) {
  const { timeout: _readApart, ...limits } = object.limits ?? {};
  return limits;
}

/** The options the file sets, at the keys the table gives them, as text. */
function optionsOf(object: ConfigObject): Partial<Record<OptionName, string>> {
  const options: Partial<Record<OptionName, string>> = {};
  for (const row of optionRows) {
    const value = row.configKey === undefined ? undefined : valueAt(object, row.configKey);
    const { boolean } = row.kind.inConfig;
    if (typeof value === 'boolean' && boolean !== undefined) options[row.name] = boolean[`${value}`];
    else if (value !== undefined) options[row.name] = String(value);
  }
  return options;
}

/** The value at a dotted key of a JSON object, if there is one. */
function valueAt(object: object, key: string): unknown {
  let value: unknown = object;
  for (const part of key.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Capabilities under which only the shape of env and limits is checked. */
const anyCapabilities = {
  queues: [defaultQueue],
  sandboxMode: 'optional' as const,
  sandbox: { available: true as const },
  checkUser: () => null,
};

/**
 * Runs a check written for submissions, whose messages begin with the field (`env: ...`),
 * reporting its refusal as the config file's, the key quoted as the schema's refusals do.
 */
function checked<T>(label: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const message = (error as Error).message.replace(/^([\w.]+): /, '"$1": ');
    throw new SchedulerError('invalid_request', `${label}: ${message}`);
  }
}
