import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config-file.js';
import { SchedulerError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'scheduler-config-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function load(config: unknown) {
  const path = join(dir, `config-${++count}.json`);
  writeFileSync(path, JSON.stringify(config));
  return loadConfigFile(path);
}

function refusal(config: unknown): string {
  try {
    load(config);
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    return (error as SchedulerError).message;
  }
  throw new Error(`expected ${JSON.stringify(config)} to be refused`);
}

describe('loadConfigFile: env, queues, limits, sandbox', () => {
  it('reads every setting', () => {
    const config = load({
      env: { PGHOST: 'db', EMPTY: '' },
      queues: { gpu: 1, backups: 2 },
      limits: { cpu: '10m', memory: '2GiB', processes: 256, openFiles: 1024, output: '100MiB', timeout: '1h' },
      sandbox: { readOnlyPaths: ['/opt/tools'], bwrap: '/usr/local/bin/bwrap' },
    });
    expect(config).toMatchObject({
      env: { PGHOST: 'db', EMPTY: '' },
      queues: { gpu: 1, backups: 2 },
      limits: { cpuSeconds: 600, memoryBytes: 2 * 1024 ** 3, processes: 256, openFiles: 1024, outputBytes: 100 * 1024 ** 2 },
      timeoutMs: 3_600_000,
      sandboxReadOnlyPaths: ['/opt/tools'],
      bwrap: '/usr/local/bin/bwrap',
    });
  });

  it('without them: no variables, queues, limits or extra sandbox paths', () => {
    expect(load({})).toMatchObject({ env: {}, queues: {}, limits: {}, sandboxReadOnlyPaths: [] });
    expect(load({}).timeoutMs).toBeUndefined();
  });

  it('refuses bad values, naming the setting', () => {
    expect(refusal({ env: { 'BAD-NAME': 'x' } })).toMatch(/^--config: env: "BAD-NAME" is not a variable name/);
    expect(refusal({ env: { A: 1 } })).toBe('--config: "env" must be an object of NAME -> "value" strings');
    expect(refusal({ queues: { gpu: 0 } })).toBe('--config: queue "gpu": the most runs at once must be a whole number of at least 1');
    expect(refusal({ queues: { 'a b': 1 } })).toMatch(/^--config: "a b" is not a queue name/);
    expect(refusal({ limits: { memory: 'lots' } })).toMatch(/^--config: limits\.memory: "lots" is not a size/);
    expect(refusal({ limits: { cpu: 10 } })).toMatch(/^--config: limits\.cpu must be a string/);
    expect(refusal({ limits: { openFiles: 8 } })).toBe('--config: limits.openFiles must be a whole number of at least 32');
    expect(refusal({ limits: { disk: '1G' } })).toMatch(/^--config: limits: "disk" is not a limit/);
    expect(refusal({ limits: { timeout: '0s' } })).toBe('--config: limits.timeout must be longer than 0');
    expect(refusal({ limits: { timeout: 'soon' } })).toMatch(/^--config: limits\.timeout: /);
    expect(refusal({ sandbox: { readOnlyPaths: ['relative'] } })).toBe('--config: sandbox.readOnlyPaths must be a list of absolute paths');
    // The mode is one of the daemon's options, read by daemon-options.ts, not by loadConfigFile.
    expect(refusal({ sandbox: { mode: 'required' } })).toBe('--config: sandbox: "mode" is not a setting (known: readOnlyPaths, bwrap)');
  });
});
