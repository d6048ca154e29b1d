/**
 * Languages of a script: which one a submission gets (bash unless it says), which it may name
 * (those the daemon runs), and the daemon's --config file that adds languages or changes
 * their commands.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { builtInInterpreters } from '../../src/core/interpreters.js';
import { parseSubmission, type Submission, type SubmissionLimits } from '../../src/core/submission.js';
import { loadConfigFile } from '../../src/daemon/config-file.js';

const NOW = Date.parse('2026-11-25T10:00:00.000Z');
const valid: Submission = { id: 'lang_task', type: 'delay', time: '1m', script: 'print(2**100)' };

function refusal(input: Submission, limits: SubmissionLimits): SchedulerError {
  try {
    parseSubmission(input, limits, NOW, 'UTC');
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).code).toBe('invalid_request');
    return error as SchedulerError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('parseSubmission: lang', () => {
  it('is bash when not given', () => {
    expect(parseSubmission(valid, { maxScriptBytes: 1024 }, NOW, 'UTC').lang).toBe('bash');
    expect(parseSubmission(valid, { maxScriptBytes: 1024, languages: ['bash', 'perl'] }, NOW, 'UTC').lang).toBe('bash');
  });

  it.each(['bash', 'sh', 'node', 'python'])('accepts the built-in %j when no languages are given', (lang) => {
    expect(parseSubmission({ ...valid, lang }, { maxScriptBytes: 1024 }, NOW, 'UTC').lang).toBe(lang);
  });

  it('accepts a language the daemon added', () => {
    const limits = { maxScriptBytes: 1024, languages: [...Object.keys(builtInInterpreters), 'perl'] };
    expect(parseSubmission({ ...valid, lang: 'perl' }, limits, NOW, 'UTC').lang).toBe('perl');
  });

  it.each(['perl', 'Python', 'python3', 'BASH', ''])('refuses %j with the built-in languages, naming lang and the choices', (lang) => {
    const message = refusal({ ...valid, lang }, { maxScriptBytes: 1024 }).message;
    expect(message).toMatch(/^lang: /);
    expect(message).toContain(`"${lang}" is not a language this daemon runs`);
    expect(message).toContain('bash, sh, node, python');
    expect(message).toMatch(/--config/);
  });

  it('refuses a language missing from limits.languages, even a built-in one', () => {
    const limits = { maxScriptBytes: 1024, languages: ['bash', 'perl'] };
    const message = refusal({ ...valid, lang: 'python' }, limits).message;
    expect(message).toMatch(/^lang: "python" is not a language this daemon runs \(bash, perl\)/);
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])('refuses %j (an Object.prototype name is no language)', (lang) => {
    expect(refusal({ ...valid, lang }, { maxScriptBytes: 1024 }).message).toMatch(/^lang: /);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  let count = 0;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'scheduler-config-test-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes `text` to a fresh file and returns its path. */
  function file(text: string): string {
    const path = join(dir, `config-${++count}.json`);
    writeFileSync(path, text);
    return path;
  }

  function configRefusal(path: string): SchedulerError {
    try {
      loadConfigFile(path);
    } catch (error) {
      expect(error).toBeInstanceOf(SchedulerError);
      expect((error as SchedulerError).code).toBe('invalid_request');
      expect((error as SchedulerError).message).toMatch(/^--config[ :]/);
      return error as SchedulerError;
    }
    throw new Error(`expected ${path} to be refused`);
  }

  it('without a file: the built-in languages', () => {
    expect(loadConfigFile(undefined).interpreters).toEqual({ bash: null, sh: ['sh'], node: ['node'], python: ['python3'] });
  });

  it('an empty object, or an empty interpreters object: the built-in languages', () => {
    expect(loadConfigFile(file('{}')).interpreters).toEqual(builtInInterpreters);
    expect(loadConfigFile(file('{"interpreters": {}}')).interpreters).toEqual(builtInInterpreters);
  });

  it('adds languages and changes the commands of built-in ones, keeping the rest', () => {
    const path = file(JSON.stringify({ interpreters: { perl: ['perl'], 'my.lang_2-x': ['env', '-i', 'cat'], python: ['python3', '-u'] } }));
    expect(loadConfigFile(path).interpreters).toEqual({
      bash: null,
      sh: ['sh'],
      node: ['node'],
      python: ['python3', '-u'],
      perl: ['perl'],
      'my.lang_2-x': ['env', '-i', 'cat'],
    });
  });

  it('does not change the built-in table', () => {
    loadConfigFile(file('{"interpreters": {"python": ["pypy3"], "perl": ["perl"]}}'));
    expect(builtInInterpreters).toEqual({ bash: null, sh: ['sh'], node: ['node'], python: ['python3'] });
  });

  it('a file that does not exist is refused, naming it', () => {
    const path = join(dir, 'no-such-file.json');
    expect(configRefusal(path).message).toContain(`cannot read ${path}`);
  });

  it.each(['', '{', '{"interpreters": {"perl": ["perl"],}}', 'interpreters: perl'])('%j is not JSON: refused', (text) => {
    expect(configRefusal(file(text)).message).toMatch(/cannot read .* as JSON/);
  });

  it('an unknown key is refused, naming it and the known ones', () => {
    const path = file('{"interpreters": {}, "interpretors": {"perl": ["perl"]}}');
    const message = configRefusal(path).message;
    expect(message).toContain(`--config ${path}: "interpretors" is not a setting of the config file`);
    expect(message).toContain('known: interpreters');
  });

  it.each(['[]', '["interpreters"]', '"text"', '42', 'true', 'null'])('a top level of %s (not an object) is refused', (text) => {
    // Not an object with settings: there is nothing to read from it, and saying so beats
    // running with the built-in languages only, as if the file had been empty.
    const message = configRefusal(file(text)).message;
    expect(message).not.toMatch(/"0" is not a setting/);
    expect(message).toMatch(/: must be a JSON object of settings, e\.g\. .*, not /);
  });

  it.each(['[]', '[["perl"]]', '"perl"', '42', 'null', 'true'])('interpreters of %s (not an object) are refused', (value) => {
    expect(configRefusal(file(`{"interpreters": ${value}}`)).message).toContain(`"interpreters": must be an object of language -> command, e.g. {"ruby": ["ruby"]}, not ${JSON.stringify(JSON.parse(value))}`);
  });

  it.each(['has space', 'a/b', 'é', 'x'.repeat(33), 'semi;colon', ''])('a language named %j is refused', (lang) => {
    const message = configRefusal(file(JSON.stringify({ interpreters: { [lang]: ['cat'] } }))).message;
    expect(message).toContain(`"interpreters": ${JSON.stringify(lang)} is not a language name`);
  });

  it.each([
    ['an empty list', []],
    ['a string', 'perl'],
    ['null', null],
    ['an object', { command: 'perl' }],
    ['a list with a number', ['perl', 1]],
    ['a list with an empty word', ['perl', '']],
    ['a list with null', [null]],
    ['a list with a list', [['perl']]],
  ])('a command that is %s is refused, naming the language', (_what, command) => {
    const message = configRefusal(file(JSON.stringify({ interpreters: { perl: command } }))).message;
    // The command itself, or the word of it that is wrong.
    expect(message).toMatch(/: "interpreters\.perl": must be a command: a list of words, e\.g\. |: "interpreters\.perl\[\d\]": must be a word of the command \(a non-empty string\), not /);
  });

  it('a language named "__proto__" is either refused or usable, never silently lost', () => {
    // JSON.parse makes "__proto__" an own key; assigning it into a plain object would set the prototype instead.
    let interpreters: Record<string, unknown>;
    try {
      interpreters = loadConfigFile(file('{"interpreters": {"__proto__": ["cat"]}}')).interpreters;
    } catch (error) {
      expect((error as Error).message).toMatch(/^--config: /);
      return;
    }
    expect(Object.keys(interpreters)).toContain('__proto__');
    expect(Object.getPrototypeOf(interpreters)).toBe(Object.prototype);
  });
});
