import { describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { parseExecution, type ExecutionCapabilities, type ExecutionInput } from '../../src/core/execution-input.js';
import { defaultExecution } from '../../src/core/execution.js';

const capabilities: ExecutionCapabilities = {
  queues: ['default', 'gpu'],
  sandboxMode: 'optional',
  sandbox: { available: true },
  checkUser: (user) => (user === 'alice' ? null : `there is no user "${user}" on this host`),
};

function refusal(input: ExecutionInput, caps: ExecutionCapabilities = capabilities): string {
  try {
    parseExecution(input, caps);
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('invalid_request');
    return (error as SchedulerError).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('parseExecution', () => {
  it('without any field: the defaults', () => {
    expect(parseExecution({}, capabilities)).toEqual(defaultExecution);
  });

  it('takes every field, with limits turned into numbers', () => {
    expect(
      parseExecution(
        { env: { A: '1', _B2: 'two words' }, cwd: '/srv/app', user: 'alice', queue: 'gpu', limits: { cpu: '2m', memory: '256MiB', processes: 20, openFiles: 64, output: '1MiB' } },
        capabilities,
      ),
    ).toEqual({
      env: { A: '1', _B2: 'two words' },
      cwd: '/srv/app',
      user: 'alice',
      queue: 'gpu',
      sandbox: false,
      network: false,
      limits: { cpuSeconds: 120, memoryBytes: 256 * 1024 ** 2, processes: 20, openFiles: 64, outputBytes: 1024 ** 2 },
    });
  });

  it('refuses bad variables: names, the daemon\'s own SCHEDULER_*, NUL bytes', () => {
    expect(refusal({ env: { '1A': 'x' } })).toMatch(/^env: "1A" is not a variable name/);
    expect(refusal({ env: { 'A-B': 'x' } })).toMatch(/^env: "A-B" is not a variable name/);
    expect(refusal({ env: { SCHEDULER_TOKEN: 'x' } })).toMatch(/^env: SCHEDULER_TOKEN: the daemon sets/);
    expect(refusal({ env: { A: 'a\0b' } })).toMatch(/^env: the value of A contains a NUL byte/);
    expect(refusal({ env: { A: 'x'.repeat(70 * 1024) } })).toMatch(/^env: the variables take \d+ bytes; at most 65536/);
  });

  it('refuses a relative working directory', () => {
    expect(refusal({ cwd: 'work/dir' })).toMatch(/^cwd: "work\/dir" is not an absolute path/);
  });

  it('refuses a user the daemon cannot run as, with its reason', () => {
    expect(refusal({ user: 'mallory' })).toBe('user: there is no user "mallory" on this host');
  });

  it('refuses a queue the daemon does not have, naming those it has', () => {
    expect(refusal({ queue: 'cpu' })).toBe('queue: "cpu" is not a queue of this daemon (default, gpu); its --config file defines queues');
  });

  it('refuses CPU time that is not whole seconds, sizes of zero, and counts too small to start a script', () => {
    expect(refusal({ limits: { cpu: '1500ms' } })).toMatch(/^limits\.cpu: "1500ms": CPU time is limited in whole seconds/);
    expect(refusal({ limits: { cpu: '0s' } })).toMatch(/^limits\.cpu: /);
    expect(refusal({ limits: { memory: '0' } })).toMatch(/^limits\.memory: "0" would stop every run at once/);
    expect(refusal({ limits: { output: 'lots' } })).toMatch(/^limits\.output: "lots" is not a size/);
    expect(refusal({ limits: { processes: 0 } })).toBe('limits.processes: 0: give a whole number of at least 1');
    expect(refusal({ limits: { openFiles: 16 } })).toBe('limits.openFiles: 16: give a whole number of at least 32');
  });

  describe('the sandbox', () => {
    const unavailable: ExecutionCapabilities = { ...capabilities, sandbox: { available: false, reason: 'bubblewrap is not installed: apt-get install bubblewrap' } };

    it('optional: off unless asked for; --network only with it', () => {
      expect(parseExecution({}, capabilities).sandbox).toBe(false);
      expect(parseExecution({ sandbox: true }, capabilities)).toMatchObject({ sandbox: true, network: false });
      expect(parseExecution({ sandbox: true, network: true }, capabilities)).toMatchObject({ sandbox: true, network: true });
      expect(refusal({ network: true })).toMatch(/^network: only a sandboxed task/);
    });

    it('default: on unless turned off', () => {
      const caps = { ...capabilities, sandboxMode: 'default' as const };
      expect(parseExecution({}, caps).sandbox).toBe(true);
      expect(parseExecution({ sandbox: false }, caps).sandbox).toBe(false);
    });

    it('required: cannot be turned off', () => {
      const caps = { ...capabilities, sandboxMode: 'required' as const };
      expect(parseExecution({}, caps).sandbox).toBe(true);
      expect(refusal({ sandbox: false }, caps)).toMatch(/^sandbox: this daemon runs every script in its sandbox/);
    });

    it('never runs a sandboxed task without it: refused, saying what to install', () => {
      expect(refusal({ sandbox: true }, unavailable)).toBe('sandbox: the sandbox cannot work on this host: bubblewrap is not installed: apt-get install bubblewrap');
      expect(parseExecution({}, unavailable).sandbox).toBe(false);
    });

    it('has its own working directory and user: --cwd and --user are refused with it', () => {
      expect(refusal({ sandbox: true, cwd: '/srv' })).toMatch(/^cwd: a sandboxed script works in its own private scratch directory/);
      expect(refusal({ sandbox: true, user: 'alice' })).toMatch(/^user: a sandboxed script runs as an unprivileged user/);
    });
  });
});
