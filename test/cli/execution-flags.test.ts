import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executionFields, parseEnvFile, type ExecutionOptions } from '../../src/cli/execution-flags.js';
import { SchedulerError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'scheduler-env-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const none: ExecutionOptions = { env: [], envFile: [] };

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, skipping blanks and comments, dropping export and one pair of quotes', () => {
    const text = ['# settings', '', 'A=1', 'export B=two words', "C='single # not a comment'", 'D="double"', 'E=a=b', '  F = spaced'].join('\n');
    expect(parseEnvFile(text, 'f')).toEqual([
      ['A', '1'],
      ['B', 'two words'],
      ['C', 'single # not a comment'],
      ['D', 'double'],
      ['E', 'a=b'],
      ['F', 'spaced'],
    ]);
  });

  it('refuses a line without "=", saying which line of which file', () => {
    expect(() => parseEnvFile('A=1\nJUST_A_NAME\n', 'vars.env')).toThrow(new SchedulerError('invalid_request', '--env-file vars.env, line 2: "JUST_A_NAME" is not KEY=VALUE'));
  });
});

describe('executionFields', () => {
  it('sends nothing when no flag is given', () => {
    expect(executionFields(none)).toEqual({});
  });

  it('merges env files in order, then --env on top; resolves --cwd; turns limits into API fields', () => {
    const first = join(dir, 'first.env');
    const second = join(dir, 'second.env');
    writeFileSync(first, 'A=from-first\nB=from-first\n');
    writeFileSync(second, 'B=from-second\n');
    const fields = executionFields({
      ...none,
      envFile: [first, second],
      env: ['A=from-flag', 'EMPTY='],
      cwd: 'relative/dir',
      sandbox: true,
      network: true,
      cpuLimit: '10s',
      memoryLimit: '64MiB',
      processLimit: '8',
      openFileLimit: '32',
      outputLimit: '1MiB',
    });
    expect(fields).toEqual({
      env: { A: 'from-flag', B: 'from-second', EMPTY: '' },
      cwd: join(process.cwd(), 'relative/dir'),
      sandbox: true,
      network: true,
      limits: { cpu: '10s', memory: '64MiB', processes: 8, openFiles: 32, output: '1MiB' },
    });
  });

  it('refuses --env without "=", a missing env file, and a limit that is not a number', () => {
    expect(() => executionFields({ ...none, env: ['NOVALUE'] })).toThrow(/^--env: "NOVALUE" is not KEY=VALUE$/);
    expect(() => executionFields({ ...none, envFile: [join(dir, 'missing.env')] })).toThrow(/^--env-file: cannot read .*missing\.env/);
    expect(() => executionFields({ ...none, processLimit: 'many' })).toThrow(/^--process-limit: "many" is not a whole number$/);
  });
});
