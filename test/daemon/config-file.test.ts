import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, readConfigFile } from '../../src/daemon/config-file.js';
import { SchedulerError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'scheduler-config-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function written(config: unknown): string {
  const path = join(dir, `config-${++count}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

function load(config: unknown) {
  return loadConfigFile(written(config));
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

  it('refuses bad values, naming the key, what it must be and what it is', () => {
    const at = (path: string) => `--config ${path}: `;
    expect(refusal({ env: { 'BAD-NAME': 'x' } })).toMatch(/^--config .*: "env": "BAD-NAME" is not a variable name/);
    expect(refusal({ env: { A: 1 } })).toMatch(/: "env\.A": must be a string, not 1$/);
    expect(refusal({ env: { SCHEDULER_X: 'a' } })).toMatch(/: "env": SCHEDULER_X: the daemon sets the SCHEDULER_\* variables/);
    expect(refusal({ queues: { gpu: 0 } })).toMatch(/: "queues\.gpu": must be the most runs at once: a whole number of at least 1, not 0$/);
    expect(refusal({ queues: { 'a b': 1 } })).toMatch(/: "queues": "a b" is not a queue name/);
    expect(refusal({ limits: { memory: 'lots' } })).toMatch(/: "limits\.memory": must be a byte size such as "512MiB", not "lots"$/);
    expect(refusal({ limits: { cpu: 10 } })).toMatch(/: "limits\.cpu": must be a CPU time .*, not 10$/);
    expect(refusal({ limits: { cpu: '1500ms' } })).toMatch(/: "limits\.cpu": "1500ms": CPU time is limited in whole seconds/);
    expect(refusal({ limits: { openFiles: 8 } })).toMatch(/: "limits\.openFiles": must be a whole number of at least 32, not 8$/);
    expect(refusal({ limits: { disk: '1G' } })).toMatch(/: "limits\.disk" is not a setting of the config file \(known: limits\.cpu, limits\.memory, /);
    expect(refusal({ limits: { timeout: '0s' } })).toMatch(/: "limits\.timeout": must be a duration longer than 0 such as "1h", not "0s"$/);
    expect(refusal({ limits: { timeout: 'soon' } })).toMatch(/: "limits\.timeout": must be a duration .*, not "soon"$/);
    expect(refusal({ sandbox: { readOnlyPaths: ['relative'] } })).toMatch(/: "sandbox\.readOnlyPaths\[0\]": must be an absolute path, not "relative"$/);
    expect(refusal({ sandbox: { bwrap: 'bwrap' } })).toMatch(/: "sandbox\.bwrap": must be the absolute path of the bwrap program, not "bwrap"$/);
    // Every message starts with the file it is about.
    const path = join(dir, `config-${count + 1}.json`);
    expect(refusal({ limits: { memory: 'lots' } }).startsWith(at(path))).toBe(true);
  });

  it("checks the daemon's options in the same schema (the sandbox's mode beside its paths)", () => {
    expect(load({ sandbox: { mode: 'required', readOnlyPaths: ['/opt/tools'] } })).toMatchObject({ sandboxReadOnlyPaths: ['/opt/tools'] });
    expect(refusal({ sandbox: { mode: 'always' } })).toMatch(/: "sandbox\.mode": must be one of optional, default, required, not "always"$/);
    expect(refusal({ sandbox: { moed: 'default' } })).toMatch(/: "sandbox\.moed" is not a setting of the config file \(known: sandbox\.readOnlyPaths, sandbox\.bwrap, sandbox\.mode\)$/);
  });

  it('takes a switch (dashboard) as on or off, or as a JSON boolean, which it reads as on or off', () => {
    const options = (config: unknown) => readConfigFile(written(config)).options;
    expect(options({ dashboard: false }).dashboard).toBe('off');
    expect(options({ dashboard: true }).dashboard).toBe('on');
    expect(options({ dashboard: 'off' }).dashboard).toBe('off');
    expect(refusal({ dashboard: 'no' })).toMatch(/: "dashboard": must be on or off \(or true or false\), not "no"$/);
    expect(refusal({ dashboard: 0 })).toMatch(/: "dashboard": must be on or off \(or true or false\), not 0$/);
    // A choice of more than two values takes no boolean.
    expect(refusal({ sandbox: { mode: true } })).toMatch(/: "sandbox\.mode": must be one of optional, default, required, not true$/);
  });
});
