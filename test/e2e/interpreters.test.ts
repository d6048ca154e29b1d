/**
 * Script languages end to end: a real daemon with a --config file that adds a language
 * (`catlang`, run by cat: its output is the script itself), the real CLI submitting scripts
 * in each language, and a restart without the config file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ok, parseJson, runCli } from '../support/cli.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();

type LangTaskView = TaskView & { lang: string; results: Array<TaskView['results'][number] & { error: string | null }> };

describe('--lang', () => {
  let daemon: DaemonProcess;
  let configPath: string;

  beforeAll(async () => {
    const dir = e2e.tempDir();
    configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ interpreters: { catlang: ['cat'] } }));
    daemon = await e2e.startDaemon({ args: ['--config', configPath] });
  });

  test.each([
    ['python', 'print(2**100)', '1267650600228229401496703205376\n'],
    ['node', 'console.log(typeof process, [1, 2].map((x) => x * 21).join(","))', 'object 21,42\n'],
    ['sh', 'echo "${BASH_VERSION:-not bash} $#"', 'not bash 0\n'],
    ['bash', 'echo "${BASH_VERSION:+bash} $((6*7))"', 'bash 42\n'],
    ['catlang', `echo "$HOME" '$x' \\ \`id\` é`, `echo "$HOME" '$x' \\ \`id\` é`],
  ])('%s: the script runs end to end in its language', async (lang, script, stdout) => {
    const submitted = await daemon.submit<LangTaskView>(`run-${lang}`, ['-type=delay', '-time=50ms', `-script=${script}`, `--lang=${lang}`]);
    expect(submitted.lang).toBe(lang);
    const done = (await daemon.waitForStatus(`run-${lang}`, 'Executed')) as LangTaskView;
    expect(done.results).toHaveLength(1);
    expect(done.results[0]).toMatchObject({ outcome: 'succeeded', exitCode: 0, stdout, stderr: '' });
  });

  test('without --lang: bash, shown by get and get --json', async () => {
    await daemon.submit<LangTaskView>('default-lang', ['-type=delay', '-time=1h', '-script=echo hi']);
    expect(parseJson<LangTaskView>(ok(await daemon.cli(['get', 'default-lang', '--json']), 'get --json')).lang).toBe('bash');
    expect(ok(await daemon.cli(['get', 'default-lang']), 'get').stdout).toMatch(/^lang: +bash$/m);
  });

  test('get shows the language', async () => {
    await daemon.submit<LangTaskView>('shown-python', ['-type=delay', '-time=1h', '-script=print(1)', '--lang', 'python']);
    const shown = ok(await daemon.cli(['get', 'shown-python']), 'get').stdout;
    expect(shown).toMatch(/^lang: +python$/m);
    expect(parseJson<LangTaskView>(ok(await daemon.cli(['get', 'shown-python', '--json']), 'get --json')).lang).toBe('python');
  });

  test('an unknown language is refused with exit 2, naming lang and the languages the daemon runs', async () => {
    const result = await daemon.cli(['submit', 'ruby-task', '-type=delay', '-time=1s', '-script=puts 1', '--lang=ruby']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scheduler: lang: "ruby" is not a language this daemon runs \(bash, sh, node, python, catlang\)/);
    expect(await daemon.task('ruby-task')).toBeUndefined();
  });

  test('a language name no config could add is refused with exit 2 too', async () => {
    const result = await daemon.cli(['submit', 'bad-lang', '-type=delay', '-time=1s', '-script=true', '--lang=has space']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/lang/);
    expect(await daemon.task('bad-lang')).toBeUndefined();
  });
});

describe('--config', () => {
  test('a bad config file stops the daemon before it listens (exit 2, with the --config message)', async () => {
    const dir = e2e.tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ interpreters: { perl: [] } }));
    const result = await runCli(['daemon', '--config', bad, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0']);
    expect(result.code).toBe(2);
    expect(result.stdout).not.toMatch(/listening on/);
    expect(result.stderr).toContain(`--config ${bad}: "interpreters.perl": must be a command: a list of words`);
  });

  test('a task whose language is no longer configured fails its next run, naming the language', async () => {
    const dir = e2e.tempDir();
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ interpreters: { catlang: ['cat'] } }));
    const first = await e2e.startDaemon({ args: ['--config', configPath] });
    await first.submit<LangTaskView>('cat-cron', ['-type=cron', '-time=1s', '-script=meow', '--lang=catlang']);
    const ran = await first.waitForTask('cat-cron', 'a succeeded run', (task) => task.results.some((r) => r.outcome === 'succeeded'));
    expect(ran.results.find((r) => r.outcome === 'succeeded')?.stdout).toBe('meow');
    await first.stop();

    // Same data directory, no --config: catlang is gone.
    const second = await e2e.restart(first, { args: [] });
    const failed = (await second.waitForTask('cat-cron', 'a failed run', (task) => task.results.some((r) => r.outcome === 'failed'))) as LangTaskView;
    const run = failed.results.find((r) => r.outcome === 'failed')!;
    expect(run).toMatchObject({ exitCode: null, signal: null, stdout: '', stderr: '' });
    expect(run.error).toMatch(/could not start: the language "catlang" is not configured on this daemon/);
    expect(failed.lang).toBe('catlang');
    expect(ok(await second.cli(['get', 'cat-cron']), 'get').stdout).toMatch(/^lang: +catlang$/m);

    // And it cannot be submitted there.
    const refused = await second.cli(['submit', 'cat-new', '-type=delay', '-time=1s', '-script=x', '--lang=catlang']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/lang: "catlang" is not a language this daemon runs \(bash, sh, node, python\)/);
    await second.cli(['delete', 'cat-cron']);
  });
});
