/**
 * Every option of `scheduler daemon` takes effect from each of its sources (flag,
 * environment variable, config file), shown by what it does on a real daemon: a daemon per
 * source, with every option set from that source only, then one check per option. Also:
 * the token whatever the position of --token-file, and unknown options refused.
 * (test/daemon/daemon-options.test.ts covers the parsing and the precedence in detail.)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
/** Longer than the harness's default: the first describe starts three daemons at once. */
const startTimeoutMs = 30_000;

type Source = 'flag' | 'env' | 'config';
const sources: readonly Source[] = ['flag', 'env', 'config'];

/** What a daemon of one source was given, to check against. */
interface Setup {
  daemon: DaemonProcess;
  token: string;
  /** The address it was told to listen on: a loopback address of its own, any port. */
  host: string;
  dataDir: string;
  /** The language its config file adds (each source's file adds another). */
  language: string;
}

const setups = {} as Record<Source, Setup>;

/** The options each daemon gets, as its source writes them (the token as a file but from the environment). */
const chosen = {
  maxRuns: 3,
  keepRuns: 2,
  outputCap: '64B',
  maxOutputTotal: '5MiB',
  heartbeat: '300ms',
  maxScriptBytes: '1KiB',
  killGrace: '1500ms',
  durability: 'full',
  logLevel: 'debug',
  dashboard: 'off',
};

/** Starts a daemon with every option (but --sandbox, below) from `source`. */
async function startFrom(source: Source): Promise<Setup> {
  const dir = e2e.tempDir(`scheduler-e2e-options-${source}-`);
  const token = `token-of-the-${source}`;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`);
  // Not the default 127.0.0.1, so that where it listens shows the option was taken; a port
  // of the kernel's choice, so that no other test can hold it.
  const host = `127.0.0.${sources.indexOf(source) + 2}`;
  const dataDir = join(dir, 'data');
  const language = `${source}lang`;
  const listen = `${host}:0`;
  const configFile = join(dir, 'config.json');
  const interpreters = { [language]: ['sh'] };
  if (source === 'flag') {
    writeFileSync(configFile, JSON.stringify({ interpreters }));
    const args = ['daemon', '--listen', listen, '--data-dir', dataDir, '--token-file', tokenFile, '--config', configFile];
    for (const [name, value] of Object.entries(chosen)) args.push(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(value));
    return { daemon: await e2e.startDaemon({ bare: true, startTimeoutMs, dataDir, args }), token, host, dataDir, language };
  }
  if (source === 'env') {
    writeFileSync(configFile, JSON.stringify({ interpreters }));
    const env: Record<string, string> = { SCHEDULER_LISTEN: listen, SCHEDULER_DATA_DIR: dataDir, SCHEDULER_TOKEN: token, SCHEDULER_CONFIG: configFile };
    for (const [name, value] of Object.entries(chosen)) env[`SCHEDULER_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`] = String(value);
    return { daemon: await e2e.startDaemon({ bare: true, startTimeoutMs, dataDir, env, args: ['daemon'] }), token, host, dataDir, language };
  }
  // Relative paths in the file are relative to it.
  writeFileSync(configFile, JSON.stringify({ interpreters, listen, dataDir: 'data', tokenFile: 'token', ...chosen, maxRuns: 3 }));
  return { daemon: await e2e.startDaemon({ bare: true, startTimeoutMs, dataDir, args: ['daemon', '--config', configFile] }), token, host, dataDir, language };
}

/** One request to a daemon with its token (or `token`); the status and the parsed body. */
async function call(setup: Setup, method: string, path: string, body?: unknown, token: string | null = setup.token) {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${setup.daemon.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text.length > 0 ? (JSON.parse(text) as Record<string, any>) : undefined };
}

async function status(setup: Setup): Promise<Record<string, any>> {
  const answer = await call(setup, 'GET', '/api/status');
  expect(answer.status).toBe(200);
  return answer.body!;
}

beforeAll(async () => {
  const started = await Promise.all(sources.map(startFrom));
  sources.forEach((source, i) => (setups[source] = started[i]!));
}, 90_000);

/** For each option, a check of its effect on the daemon of one source. */
const effects: Array<[string, (setup: Setup) => Promise<void>]> = [
  ['listen: it serves on the address given', async (setup) => {
    expect(setup.daemon.url).toMatch(new RegExp(`^http://${setup.host.replace(/\./g, '\\.')}:\\d+$`));
    expect((await status(setup)).settings.listen).toBe(`${setup.host}:0`);
  }],
  ['data-dir: its database is there', async (setup) => {
    expect(existsSync(join(setup.dataDir, 'scheduler.db'))).toBe(true);
    expect((await status(setup)).store.location).toBe(join(setup.dataDir, 'scheduler.db'));
  }],
  ['token: a request without the token is refused with 401, with it admitted', async (setup) => {
    const refused = await call(setup, 'GET', '/api/tasks', undefined, null);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="scheduler"');
    const wrong = await call(setup, 'GET', '/api/tasks', undefined, 'another-token');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="scheduler", error="invalid_token"');
    // The scheme's name in any case (RFC 9110).
    const lowerCase = await fetch(`${setup.daemon.url}/api/tasks`, { headers: { authorization: `bearer ${setup.token}` } });
    expect(lowerCase.status).toBe(200);
    expect((await call(setup, 'GET', '/api/tasks')).status).toBe(200);
  }],
  ['config: the language its file adds is there', async (setup) => {
    expect((await status(setup)).languages).toContain(setup.language);
  }],
  ['max-runs: the most runs at once', async (setup) => {
    expect((await status(setup)).maxRuns).toBe(3);
  }],
  ['keep-runs and output-cap: older results are pruned, output is capped', async (setup) => {
    const id = 'chatty';
    const submitted = await call(setup, 'POST', '/api/tasks', { id, type: 'cron', time: '200ms', script: 'head -c 200 /dev/zero | tr "\\0" x' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    // Under load a fire can come while the previous run still goes and be skipped (no
    // output): wait for the first runs to be pruned and for a kept run that succeeded.
    const task = await waitFor('the first runs pruned, and a kept run that succeeded', async () => {
      const { body } = await call(setup, 'GET', `/api/tasks/${id}`);
      const results = body?.results as Array<Record<string, any>>;
      return results.length > 0 && results[0]!.run >= 3 && results.some((run) => run.outcome === 'succeeded') && body;
    }, { timeoutMs: 20_000 });
    expect(task.results.length).toBeLessThanOrEqual(2);
    const succeeded = task.results.find((run: Record<string, any>) => run.outcome === 'succeeded');
    expect(succeeded).toMatchObject({ outputCap: 64, stdoutBytes: 200, stdoutTruncated: true, stdoutDroppedBytes: 200 - 64 });
    expect((await status(setup)).settings.keepRuns).toBe(2);
    expect((await call(setup, 'DELETE', `/api/tasks/${id}`)).status).toBe(204);
  }],
  ['heartbeat: keep-alive comments come on an event stream', async (setup) => {
    const id = 'watched';
    expect((await call(setup, 'POST', '/api/tasks', { id, type: 'delay', time: '1h', script: 'true' })).status).toBe(201);
    const stream = await fetch(`${setup.daemon.url}/api/tasks/${id}/events`, { headers: { authorization: `Bearer ${setup.token}` } });
    const reader = stream.body!.getReader();
    let text = '';
    // Three of them in a wait far shorter than the default 15s between two.
    await waitFor('three keep-alive comments', async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      return (text.match(/^: keep-alive$/gm) ?? []).length >= 3;
    }, { timeoutMs: 10_000, intervalMs: 1 });
    await reader.cancel();
    expect((await status(setup)).settings.heartbeatMs).toBe(300);
  }],
  ['max-script-bytes: a larger script is refused, one at the limit accepted', async (setup) => {
    const over = await call(setup, 'POST', '/api/tasks', { id: 'big', type: 'delay', time: '1h', script: `#${'x'.repeat(1024)}` });
    expect(over.status).toBe(400);
    expect(over.body!.error.message).toMatch(/script/);
    expect((await call(setup, 'POST', '/api/tasks', { id: 'fits', type: 'delay', time: '1h', script: `#${'x'.repeat(1023)}` })).status).toBe(201);
  }],
  ['log-level: debug messages are logged', async (setup) => {
    expect((await call(setup, 'POST', '/api/tasks', { id: 'logged', type: 'delay', time: '1h', script: 'true' })).status).toBe(201);
    await waitFor('the debug line of the submit on stderr', () => /"msg":"task submitted"/.test(setup.daemon.stderr));
  }],
  ['dashboard off: nothing is served at / (the page, its script), the API is', async (setup) => {
    expect((await call(setup, 'GET', '/')).status).toBe(404);
    expect((await call(setup, 'GET', '/dashboard.js')).status).toBe(404);
    expect((await call(setup, 'GET', '/api/tasks')).status).toBe(200);
  }],
  ['max-output-total, kill-grace, durability: as status says', async (setup) => {
    expect((await status(setup)).settings).toMatchObject({ maxOutputTotalBytes: 5 * 1024 ** 2, killGraceMs: 1500, durability: 'full', logLevel: 'debug', tokenRequired: true });
  }],
];

describe.each(sources)('every option from its %s', (source) => {
  test.for(effects)('%s', async ([, check]) => {
    await check(setups[source]);
  });
});

describe('the sandbox mode from each source', () => {
  // A mode other than optional needs a working sandbox: with a bwrap that does not exist,
  // the daemon refuses to start, naming the mode, which shows that the mode was read.
  test.for(sources)('from its %s: --sandbox default is taken (and refused without bwrap)', async (source) => {
    const dir = e2e.tempDir('scheduler-e2e-sandbox-mode-');
    const config = join(dir, 'config.json');
    const sandbox = { bwrap: '/nonexistent/bwrap', ...(source === 'config' ? { mode: 'default' } : {}) };
    writeFileSync(config, JSON.stringify({ sandbox }));
    const args = ['daemon', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--config', config, ...(source === 'flag' ? ['--sandbox', 'default'] : [])];
    const result = await runCli(args, { env: source === 'env' ? { SCHEDULER_SANDBOX: 'default' } : {} });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/--sandbox default: the sandbox cannot work on this host/);
    expect(result.stdout).not.toMatch(/listening on/);
  });
});

// Each test starts a daemon (or several commands): room for a start as slow as startTimeoutMs allows.
describe('where the options are on the command line', { timeout: 60_000 }, () => {
  test('an option the daemon does not know is an error (exit 2) naming it, and so is the client-only --server', async () => {
    const dataDir = join(e2e.tempDir(), 'data');
    for (const [args, message] of [
      [['daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--max-run', '3'], /unknown option '--max-run'/],
      [['daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--server', 'http://127.0.0.1:1'], /unknown option '--server'/],
      [['--server', 'http://127.0.0.1:1', 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir], /--server: is an option of the client commands/],
      [['daemon', 'now', '--listen', '127.0.0.1:0', '--data-dir', dataDir], /too many arguments for 'daemon'/],
    ] as const) {
      const result = await runCli([...args]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).not.toMatch(/listening on/);
    }
    // None of them started and left a database behind.
    expect(existsSync(join(dataDir, 'scheduler.db'))).toBe(false);
  });

  test('--listen 0.0.0.0:0 --token-file FILE: starts, and requires the token of the file', async () => {
    const dir = e2e.tempDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'the-file-token\n');
    const daemon = await e2e.startDaemon({ bare: true, startTimeoutMs, dataDir: join(dir, 'data'), args: ['daemon', '--listen', '0.0.0.0:0', '--data-dir', join(dir, 'data'), '--token-file', tokenFile] });
    await daemon.waitForStdout(/^data directory: .* \(bearer token required\)$/m);
    const server = `http://127.0.0.1:${daemon.port}`;
    const without = await runCli(['--server', server, 'list']);
    expect(without.code, without.stderr).toBe(3);
    // The client's --token-file, before or after its command.
    expect(await runCli(['--server', server, '--token-file', tokenFile, 'list'])).toMatchObject({ code: 0, stdout: 'no tasks\n' });
    expect(await runCli(['list', '--server', server, '--token-file', tokenFile])).toMatchObject({ code: 0, stdout: 'no tasks\n' });
    expect(await runCli(['--server', server, 'list'], { env: { SCHEDULER_TOKEN: 'the-file-token' } })).toMatchObject({ code: 0 });
    await daemon.stop();
  });

  // One after the other: four daemons starting at once on a loaded machine take longer than a start may.
  test.for([
    ['last, after options with values', (file: string, dataDir: string) => ['daemon', '--log-level', 'warn', '--listen=127.0.0.1:0', '--data-dir', dataDir, '--token-file', file]],
    ['as --token-file=FILE, first', (file: string, dataDir: string) => ['daemon', `--token-file=${file}`, '--listen', '127.0.0.1:0', '--data-dir', dataDir]],
    ['seed-style -token-file=FILE', (file: string, dataDir: string) => ['daemon', '--listen', '127.0.0.1:0', `-token-file=${file}`, '--data-dir', dataDir]],
    ['before the command, as the program\'s option', (file: string, dataDir: string) => [`--token-file`, file, 'daemon', '--listen', '127.0.0.1:0', '--data-dir', dataDir]],
  ] as const)('--token-file %s: the daemon requires the token', async ([, argsOf]) => {
    const dir = e2e.tempDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'positional-token\n');
    const dataDir = join(dir, 'data');
    // bare: these arguments as they are, without the harness's own flags before them.
    const daemon = await e2e.startDaemon({ bare: true, startTimeoutMs, dataDir, args: [...argsOf(tokenFile, dataDir)] });
    const refused = await fetch(`${daemon.url}/api/tasks`);
    expect(refused.status).toBe(401);
    const admitted = await fetch(`${daemon.url}/api/tasks`, { headers: { authorization: 'Bearer positional-token' } });
    expect(admitted.status).toBe(200);
    await daemon.stop();
  });
});
