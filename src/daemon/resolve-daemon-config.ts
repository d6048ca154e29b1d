/**
 * The daemon's settings from its options' sources, each option from the first source that
 * sets it (the table of options, daemon-options.ts, says where each is found):
 *
 *     flag  >  environment variable  >  config file (--config)  >  default
 */
import { dirname } from 'node:path';
import { SchedulerError } from '../core/errors.js';
import { noConfigFile, readConfigFile, type ConfigFileContents } from './config-file.js';
import type { DaemonConfig } from './daemon-config.js';
import { optionRows, type DaemonOption, type DaemonOptionValues, type OptionName, type Origin } from './daemon-options.js';

/** Where the daemon's options come from. */
export interface OptionSources {
  /** The flags given, by option name, as text. */
  flags: Partial<Record<OptionName, string>>;
  env: NodeJS.ProcessEnv;
  /** Relative paths in flags and variables are relative to this directory. */
  cwd: string;
}

/** The daemon's settings, each from the first source that sets it (see the module comment). */
export function resolveDaemonConfig({ flags, env, cwd }: OptionSources): DaemonConfig {
  const here = (label: string): Origin => ({ label, base: cwd });
  const fromFlagOrEnv = (row: DaemonOption): unknown => {
    const flag = flags[row.name];
    if (flag !== undefined) return row.kind.parse(flag, here(row.flag));
    const variable = env[row.env];
    // An empty variable is an unset one (`SCHEDULER_X= scheduler daemon`).
    if (variable !== undefined && variable !== '') return (row.parseEnv ?? row.kind.parse)(variable, here(row.env));
    return undefined;
  };

  const configPath = fromFlagOrEnv(optionRows.find((row) => row.name === 'config')!) as string | undefined;
  const file: ConfigFileContents = configPath === undefined ? { settings: noConfigFile, options: {} } : readConfigFile(configPath);
  // Paths in the file are relative to it.
  const fileOrigin = (key: string): Origin => ({ label: `--config ${configPath}: "${key}"`, base: configPath === undefined ? cwd : dirname(configPath) });

  const values: Partial<Record<OptionName, unknown>> = { config: configPath };
  for (const row of optionRows) {
    if (row.name === 'config') continue;
    let value = fromFlagOrEnv(row);
    const inFile = file.options[row.name];
    if (value === undefined && inFile !== undefined) value = row.kind.parse(inFile, fileOrigin(row.configKey!));
    if (value === undefined && row.default !== undefined) {
      const text = typeof row.default === 'function' ? row.default(env) : row.default;
      value = row.kind.parse(text, here(`the default of ${row.flag}`));
    }
    values[row.name] = value;
  }
  const v = values as DaemonOptionValues;
  if (v.leaseRenew >= v.lease) {
    throw new SchedulerError('invalid_request', `--lease-renew (${v.leaseRenew}ms) must be shorter than --lease (${v.lease}ms), or every run's lease would lapse before its renewal`);
  }
  return {
    ...file.settings,
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
    ...(v.store === undefined ? {} : { store: v.store }),
    storePoolSize: v.storePoolSize,
    leaseMs: v.lease,
    leaseRenewMs: v.leaseRenew,
    nodeHeartbeatMs: v.nodeHeartbeat,
    sessionTtlMs: v.sessionTtl,
    dashboard: v.dashboard === 'on',
    ...(v.tlsCert === undefined ? {} : { tlsCertFile: v.tlsCert }),
    ...(v.tlsKey === undefined ? {} : { tlsKeyFile: v.tlsKey }),
  };
}
