/**
 * The table of the daemon's options: each option from each of its sources, the order in
 * which the sources win, and the refusals. (test/e2e/daemon-options.test.ts shows the same
 * on real daemons, by what each option does.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import type { DaemonConfig } from '../../src/daemon/daemon-config.js';
import { daemonOptions, optionsTableMarkdown, type DaemonOptionValues } from '../../src/daemon/daemon-options.js';
import { resolveDaemonConfig } from '../../src/daemon/resolve-daemon-config.js';

const dir = mkdtempSync(join(tmpdir(), 'scheduler-daemon-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function configFile(content: unknown): string {
  const path = join(dir, `config-${++count}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function tokenFile(token: string): string {
  const path = join(dir, `token-${++count}`);
  writeFileSync(path, `${token}\n`);
  return path;
}

const cwd = dir;
const baseEnv = { XDG_DATA_HOME: '/xdg' };

function resolveWith(flags: Partial<Record<keyof DaemonOptionValues, string>>, env: NodeJS.ProcessEnv = {}): DaemonConfig {
  return resolveDaemonConfig({ flags, env: { ...baseEnv, ...env }, cwd });
}

function refusal(resolve: () => unknown): string {
  try {
    resolve();
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    return (error as SchedulerError).message;
  }
  throw new Error('expected a refusal');
}

/**
 * For each option (but --config, which chooses the file): a value as each source writes it,
 * and what the daemon's config then holds. The three sources give three different values,
 * so a source read for the wrong option, or in the wrong order, shows.
 */
const samples: Array<{
  name: Exclude<keyof DaemonOptionValues, 'config'>;
  flag: string;
  env: string;
  config: unknown;
  effect: (value: 'flag' | 'env' | 'config') => Partial<DaemonConfig>;
}> = [
  { name: 'listen', flag: '127.0.0.2:1001', env: '127.0.0.3:1002', config: '[::1]:1003', effect: (s) => ({ flag: { host: '127.0.0.2', port: 1001 }, env: { host: '127.0.0.3', port: 1002 }, config: { host: '::1', port: 1003 } })[s] },
  { name: 'dataDir', flag: 'from-flag', env: '/from-env', config: 'from-config', effect: (s) => ({ dataDir: { flag: join(dir, 'from-flag'), env: '/from-env', config: join(dir, 'from-config') }[s] }) },
  { name: 'token', flag: tokenFile('flag-token'), env: 'env-token', config: tokenFile('config-token'), effect: (s) => ({ token: `${s}-token` }) },
  { name: 'maxRuns', flag: '3', env: '5', config: 7, effect: (s) => ({ maxRuns: { flag: 3, env: 5, config: 7 }[s] }) },
  { name: 'sandbox', flag: 'default', env: 'required', config: 'default', effect: (s) => ({ sandboxMode: ({ flag: 'default', env: 'required', config: 'default' } as const)[s] }) },
  { name: 'keepRuns', flag: '2', env: '3', config: '4', effect: (s) => ({ keepRuns: { flag: 2, env: 3, config: 4 }[s] }) },
  { name: 'outputCap', flag: '2KiB', env: '3KiB', config: 4096, effect: (s) => ({ outputCap: { flag: 2048, env: 3072, config: 4096 }[s] }) },
  { name: 'maxOutputTotal', flag: '2MiB', env: '3MiB', config: '4MiB', effect: (s) => ({ maxOutputBytes: { flag: 2, env: 3, config: 4 }[s] * 1024 ** 2 }) },
  { name: 'heartbeat', flag: '2s', env: '3s', config: '4s', effect: (s) => ({ heartbeatMs: { flag: 2000, env: 3000, config: 4000 }[s] }) },
  { name: 'maxScriptBytes', flag: '2KiB', env: '3KiB', config: '4KiB', effect: (s) => ({ maxScriptBytes: { flag: 2048, env: 3072, config: 4096 }[s] }) },
  { name: 'killGrace', flag: '200ms', env: '300ms', config: '400ms', effect: (s) => ({ killGraceMs: { flag: 200, env: 300, config: 400 }[s] }) },
  { name: 'durability', flag: 'full', env: 'normal', config: 'full', effect: (s) => ({ durability: ({ flag: 'full', env: 'normal', config: 'full' } as const)[s] }) },
  { name: 'logLevel', flag: 'warn', env: 'debug', config: 'error', effect: (s) => ({ logLevel: { flag: 'warn', env: 'debug', config: 'error' }[s] }) },
  {
    name: 'store', flag: 'postgres://a@flag/db', env: 'postgresql://b@env:6543/db?schema=from_env', config: 'postgres://c@config/db?sslmode=disable',
    effect: (s) => ({ store: {
      flag: { url: 'postgres://a@flag/db', schema: 'scheduler' },
      env: { url: 'postgresql://b@env:6543/db', schema: 'from_env' },
      config: { url: 'postgres://c@config/db?sslmode=disable', schema: 'scheduler' },
    }[s] }),
  },
  { name: 'storePoolSize', flag: '2', env: '3', config: 4, effect: (s) => ({ storePoolSize: { flag: 2, env: 3, config: 4 }[s] }) },
  { name: 'lease', flag: '40s', env: '50s', config: '1m', effect: (s) => ({ leaseMs: { flag: 40_000, env: 50_000, config: 60_000 }[s] }) },
  { name: 'leaseRenew', flag: '2s', env: '3s', config: '4s', effect: (s) => ({ leaseRenewMs: { flag: 2000, env: 3000, config: 4000 }[s] }) },
  { name: 'nodeHeartbeat', flag: '200ms', env: '1s', config: '2s', effect: (s) => ({ nodeHeartbeatMs: { flag: 200, env: 1000, config: 2000 }[s] }) },
  // Read when the daemon starts, not here: the files need not exist.
  { name: 'tlsCert', flag: 'flag.pem', env: '/etc/env.pem', config: 'config.pem', effect: (s) => ({ tlsCertFile: { flag: join(dir, 'flag.pem'), env: '/etc/env.pem', config: join(dir, 'config.pem') }[s] }) },
  { name: 'tlsKey', flag: 'flag.key', env: '/etc/env.key', config: 'config.key', effect: (s) => ({ tlsKeyFile: { flag: join(dir, 'flag.key'), env: '/etc/env.key', config: join(dir, 'config.key') }[s] }) },
  { name: 'sessionTtl', flag: '30m', env: '2h', config: '24h', effect: (s) => ({ sessionTtlMs: { flag: 1_800_000, env: 7_200_000, config: 86_400_000 }[s] }) },
  { name: 'dashboard', flag: 'off', env: 'on', config: 'off', effect: (s) => ({ dashboard: { flag: false, env: true, config: false }[s] }) },
];

/** A config-file object with `value` at the option's (maybe dotted) key. */
function configWith(name: keyof DaemonOptionValues, value: unknown): Record<string, unknown> {
  const key = daemonOptions.find((row) => row.name === name)!.configKey!;
  const [head, tail] = key.split('.');
  return tail === undefined ? { [head!]: value } : { [head!]: { [tail]: value } };
}

describe('resolveDaemonConfig', () => {
  it('has a sample for every option of the table', () => {
    expect(samples.map((s) => s.name).sort()).toEqual(daemonOptions.map((row) => row.name).filter((name) => name !== 'config').sort());
  });

  it('without any source: the defaults of the table', () => {
    expect(resolveWith({})).toMatchObject({
      host: '127.0.0.1',
      port: 8865,
      dataDir: '/xdg/scheduler',
      token: undefined,
      configFile: undefined,
      sandboxMode: 'optional',
      keepRuns: 100,
      outputCap: 1024 ** 2,
      maxOutputBytes: 1024 ** 3,
      heartbeatMs: 15_000,
      maxScriptBytes: 256 * 1024,
      killGraceMs: 5000,
      durability: 'normal',
      logLevel: 'info',
      queues: {},
      storePoolSize: 10,
      leaseMs: 30_000,
      leaseRenewMs: 10_000,
      nodeHeartbeatMs: 5000,
      dashboard: true,
    });
    expect(resolveWith({}).maxRuns).toBeGreaterThanOrEqual(4);
    expect(resolveWith({}).store).toBeUndefined();
  });

  it('refuses a store that is not a postgres:// URL, or a schema name PostgreSQL would need quoted', () => {
    expect(() => resolveWith({ store: 'mysql://x@y/z' })).toThrow(/--store: the store must be a postgres:\/\/ URL .*not mysql:\/\//);
    expect(() => resolveWith({ store: 'not a url' })).toThrow(/--store: "not a url" is not a URL; write it as postgres:\/\/user@host:port\/database/);
    expect(() => resolveWith({ store: 'postgres://x@y/z?schema=Bad-Name' })).toThrow(/schema "Bad-Name" must be lower-case letters/);
  });

  it('refuses a lease renewal that is not shorter than the lease', () => {
    expect(() => resolveWith({ lease: '10s' })).toThrow(/--lease-renew \(10000ms\) must be shorter than --lease \(10000ms\)/);
    expect(resolveWith({ lease: '10s', leaseRenew: '3s' })).toMatchObject({ leaseMs: 10_000, leaseRenewMs: 3000 });
  });

  describe.each(samples)('$name', (sample) => {
    const row = daemonOptions.find((r) => r.name === sample.name)!;
    const config = () => configFile(configWith(sample.name, sample.config));

    it('from its flag', () => {
      expect(resolveWith({ [sample.name]: sample.flag })).toMatchObject(sample.effect('flag'));
    });
    it(`from its environment variable`, () => {
      expect(resolveWith({}, { [row.env]: sample.env })).toMatchObject(sample.effect('env'));
    });
    it('from the config file', () => {
      expect(resolveWith({ config: config() })).toMatchObject(sample.effect('config'));
    });
    it('the flag wins over the variable, which wins over the file', () => {
      const file = config();
      expect(resolveWith({ [sample.name]: sample.flag, config: file }, { [row.env]: sample.env })).toMatchObject(sample.effect('flag'));
      expect(resolveWith({ config: file }, { [row.env]: sample.env })).toMatchObject(sample.effect('env'));
      // An empty variable is an unset one.
      expect(resolveWith({ config: file }, { [row.env]: '' })).toMatchObject(sample.effect('config'));
    });
  });

  it('reads the config file from SCHEDULER_CONFIG too; --config wins over it', () => {
    const fromEnv = configFile({ keepRuns: 7 });
    const fromFlag = configFile({ keepRuns: 8 });
    expect(resolveWith({}, { SCHEDULER_CONFIG: fromEnv })).toMatchObject({ keepRuns: 7, configFile: fromEnv });
    expect(resolveWith({ config: fromFlag }, { SCHEDULER_CONFIG: fromEnv })).toMatchObject({ keepRuns: 8, configFile: fromFlag });
  });

  it('reads the file-only settings beside the options, sandbox.mode beside sandbox.readOnlyPaths', () => {
    const file = configFile({ maxRuns: 2, queues: { gpu: 1 }, sandbox: { mode: 'default', readOnlyPaths: ['/opt/tools'] } });
    expect(resolveWith({ config: file })).toMatchObject({ maxRuns: 2, queues: { gpu: 1 }, sandboxMode: 'default', sandboxReadOnlyPaths: ['/opt/tools'] });
  });

  it('refuses a bad value naming where it came from', () => {
    expect(refusal(() => resolveWith({ maxRuns: '0' }))).toBe('--max-runs: "0" is not a whole number of at least 1');
    expect(refusal(() => resolveWith({}, { SCHEDULER_MAX_RUNS: 'many' }))).toBe('SCHEDULER_MAX_RUNS: "many" is not a whole number of at least 1');
    expect(refusal(() => resolveWith({}, { SCHEDULER_LISTEN: 'nowhere' }))).toMatch(/^SCHEDULER_LISTEN: "nowhere" is not HOST:PORT/);
    expect(refusal(() => resolveWith({}, { SCHEDULER_DURABILITY: 'paranoid' }))).toBe('SCHEDULER_DURABILITY: "paranoid" is not one of normal, full');
    expect(refusal(() => resolveWith({ dashboard: 'no' }))).toBe('--dashboard: "no" is not one of on, off');
    expect(refusal(() => resolveWith({ heartbeat: '0s' }))).toBe('--heartbeat: must be longer than 0');
    const file = configFile({ outputCap: 'huge' });
    expect(refusal(() => resolveWith({ config: file }))).toBe(`--config ${file}: "outputCap": must be a byte size such as "1MiB", or a number of bytes, not "huge"`);
    const wrongType = configFile({ heartbeat: 15 });
    expect(refusal(() => resolveWith({ config: wrongType }))).toBe(`--config ${wrongType}: "heartbeat": must be a duration longer than 0 such as "15s", not 15`);
    const mode = configFile({ sandbox: { mode: 'always' } });
    expect(refusal(() => resolveWith({ config: mode }))).toBe(`--config ${mode}: "sandbox.mode": must be one of optional, default, required, not "always"`);
    const count = configFile({ maxRuns: 2.5 });
    expect(refusal(() => resolveWith({ config: count }))).toBe(`--config ${count}: "maxRuns": must be a whole number of at least 1, not 2.5`);
    // What only reading it shows is said with the key too.
    const token = configFile({ tokenFile: 'no-such-token' });
    expect(refusal(() => resolveWith({ config: token }))).toMatch(new RegExp(`^--config ${token}: "tokenFile": cannot read .*no-such-token`));
    expect(refusal(() => resolveWith({ token: join(dir, 'no-such-token') }))).toMatch(/^--token-file: cannot read .*no-such-token/);
    expect(refusal(() => resolveWith({ token: tokenFile('') }))).toMatch(/^--token-file: .* is empty$/);
  });

  it('reads a switch the config file writes as a JSON boolean: "dashboard": false turns the dashboard off', () => {
    expect(resolveWith({ config: configFile({ dashboard: false }) }).dashboard).toBe(false);
    expect(resolveWith({ config: configFile({ dashboard: true }) }).dashboard).toBe(true);
    // A flag still wins over the file.
    expect(resolveWith({ config: configFile({ dashboard: true }), dashboard: 'off' }).dashboard).toBe(false);
  });

  it.each(daemonOptions.filter((row) => row.configKey !== undefined).map((row) => [row.configKey!, row.name] as const))(
    'the config file\'s schema has the key %s of the table, and refuses a value of the wrong type there, naming it',
    (key, name) => {
      // A list: no option takes one (a switch takes true).
      const file = configFile(configWith(name, ['x']));
      expect(refusal(() => resolveWith({ config: file }))).toMatch(new RegExp(`^--config ${file}: "${key.replace('.', '\\.')}": must be .*, not \\["x"\\]$`));
    },
  );

  it('refuses an unknown key of the config file, naming it and the known ones', () => {
    const message = refusal(() => resolveWith({ config: configFile({ maxRun: 2 }) }));
    expect(message).toMatch(/^--config .*: "maxRun" is not a setting of the config file \(known: interpreters, env, queues, limits, tokens, hideOutputFromViewers, sandbox, listen, dataDir, tokenFile, maxRuns, /);
    expect(refusal(() => resolveWith({ config: configFile({ sandbox: { moed: 'default' } }) }))).toMatch(/^--config .*: "sandbox\.moed" is not a setting of the config file \(known: sandbox\.readOnlyPaths, sandbox\.bwrap, sandbox\.mode\)$/);
    // --config cannot name another config file.
    expect(refusal(() => resolveWith({ config: configFile({ config: 'other.json' }) }))).toMatch(/^--config .*: "config" is not a setting of the config file/);
  });
});

describe('optionsTableMarkdown', () => {
  it('has a row per option with its flag, variable, config key and default', () => {
    const table = optionsTableMarkdown().split('\n');
    expect(table).toHaveLength(2 + daemonOptions.length);
    expect(table).toContain('| `--keep-runs N` | `SCHEDULER_KEEP_RUNS` | `keepRuns` | `100` | results kept per task; older ones are pruned |');
    expect(table.find((line) => line.startsWith('| `--sandbox '))).toContain('| `sandbox.mode` | `optional` |');
  });
});
