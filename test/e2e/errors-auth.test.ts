/**
 * Bad input, a daemon that is not there, the data-directory lock, and the bearer token:
 * every error goes to stderr, nothing to stdout, with the exit status of its code
 * (2 usage, 3 unauthorized, 4 not found, 5 already exists, 6 stop refused, 7 unreachable).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, test } from 'vitest';
import { parseJson, runCli } from '../support/cli.js';
import type { TaskView } from '../support/api-views.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
});

// Independent tests, run side by side to keep the file short.
describe.concurrent('errors', () => {
  describe('bad input', () => {
    test('a second submit with the same id is refused with exit 5; the first task is untouched', async ({ expect }) => {
      const first = await daemon.cli(['submit', 'twice', '-type=delay', '-time=1h', '-script=echo first']);
      expect(first.code, first.stderr).toBe(0);
      const second = await daemon.cli(['submit', 'twice', '-type=cron', '-time=1s', '-script=echo second']);
      expect(second.code).toBe(5);
      expect(second.stdout).toBe('');
      expect(second.stderr).toBe('scheduler: a task with id "twice" already exists; choose another id, or delete that task first\n');
      const task = parseJson<TaskView>(await daemon.cli(['get', 'twice', '--json']));
      expect(task).toMatchObject({ type: 'delay', time: '1h', script: 'echo first', version: 1 });
    });

    test.for([
      ['10x', /time: "10x" is not a valid duration/],
      ['1d', /time: "1d" is not a valid duration/],
      ['-1s', /time: "-1s" is not a valid duration \(it is negative\)/],
    ] as const)('a bad duration -time=%s is refused with exit 2', async ([time, message], { expect }) => {
      const result = await daemon.cli(['submit', 'bad-time', '-type=delay', `-time=${time}`, '-script=true']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^scheduler: /);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/use Go-style durations such as 300ms, 10s, 1m, 1h30m or 1.5h/);
    });

    test('an empty duration -time= is refused with exit 2', async ({ expect }) => {
      const result = await daemon.cli(['submit', 'bad-time', '-type=delay', '-time=', '-script=true']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^scheduler: time: /);
    });

    test('a bad type is a usage error (exit 2) naming the choices', async ({ expect }) => {
      const result = await daemon.cli(['submit', 'bad-type', '-type=weekly', '-time=1s', '-script=true']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/argument 'weekly' is invalid\. Allowed choices are delay, cron, at\./);
    });

    test('a missing --script is a usage error (exit 2)', async ({ expect }) => {
      const result = await daemon.cli(['submit', 'missing', '-type=delay', '-time=1s']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/required option '--script <script>' not specified/);
      expect(result.stderr).toMatch(/run with --help for usage/);
    });

    // -type and -time are no longer required options: a schedule flag (--every, --cron, --at) may
    // take their place, so the one missing from the pair is named by the submit command itself.
    test.for([
      ['--type', ['-time=1s', '-script=true'], 'scheduler: -type: is required with -time (delay, cron or at)\n'],
      ['--time', ['--type', 'delay', '--script', 'true'], 'scheduler: -time: is required with -type\n'],
      ['schedule', ['--script', 'true'], 'scheduler: say when to run: -type=delay|cron -time=..., or one of --every DURATION, --cron "EXPR", --at TIME\n'],
    ] as const)('a missing %s is refused (exit 2), storing nothing', async ([_flag, flags, message], { expect }) => {
      const result = await daemon.cli(['submit', 'missing', ...flags]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(message);
      expect(await daemon.task('missing')).toBeUndefined();
    });

    test('a missing id, an invalid id and an empty script are refused with exit 2', async ({ expect }) => {
      const noId = await daemon.cli(['submit', '-type=delay', '-time=1s', '-script=true']);
      expect(noId.code).toBe(2);
      expect(noId.stderr).toMatch(/missing required argument 'id'/);
      const badId = await daemon.cli(['submit', 'no spaces/please', '-type=delay', '-time=1s', '-script=true']);
      expect(badId.code).toBe(2);
      expect(badId.stderr).toMatch(/^scheduler: .*id/);
      const empty = await daemon.cli(['submit', 'empty', '-type=delay', '-time=1s', '-script=  ']);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/^scheduler: script: the script is empty/);
      for (const result of [noId, badId, empty]) expect(result.stdout).toBe('');
    });

    test('an unknown command or option is a usage error (exit 2)', async ({ expect }) => {
      const command = await daemon.cli(['frobnicate']);
      expect(command.code).toBe(2);
      expect(command.stderr).toMatch(/unknown command 'frobnicate'/);
      const option = await daemon.cli(['list', '--colour']);
      expect(option.code).toBe(2);
      expect(option.stderr).toMatch(/unknown option '--colour'/);
    });

    test.for(['get', 'stop', 'delete'])('%s of an unknown id fails with exit 4', async (command, { expect }) => {
      const result = await daemon.cli([command, 'ghost']);
      expect(result.code).toBe(4);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe('scheduler: no task with id "ghost"; "scheduler list" shows the tasks there are\n');
    });

  });

  describe('no daemon', () => {
    test('a client with no daemon to talk to fails (exit 7) and says how to start one', async ({ expect }) => {
      // A daemon that was there and has stopped: nothing listens at its address any more.
      const gone = await e2e.startDaemon();
      const url = gone.url;
      await gone.stop();
      for (const [args, env] of [
        [['--server', url, 'list'], {}],
        [['submit', 'x', '-type=delay', '-time=1s', '-script=true'], { SCHEDULER_URL: url }],
      ] as const) {
        const result = await runCli([...args], { env });
        expect(result.code, result.stderr).toBe(7);
        expect(result.stdout).toBe('');
        expect(result.stderr).toContain(`no scheduler daemon answers at ${url}`);
        expect(result.stderr).toContain('Start one with "scheduler daemon"');
      }
    });

    test('a malformed --server is a usage error', async ({ expect }) => {
      const result = await runCli(['--server', 'localhost:8865', 'list']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--server: "localhost:8865" is not an http:\/\/ or https:\/\/ URL/);
    });
  });

  describe('the daemon', () => {
    test('a second daemon on the same data directory is refused', async ({ expect }) => {
      const result = await runCli(['daemon', '--listen', '127.0.0.1:0', '--data-dir', daemon.dataDir], { timeoutMs: 30_000 });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/another scheduler daemon \(pid \d+[^)]*\) is using the data directory/);
      // The first one is unharmed.
      expect((await daemon.cli(['list'])).code).toBe(0);
    });

    test('a daemon on an address already in use says so, and exits non-zero', async ({ expect }) => {
      const address = new URL(daemon.url).host;
      const dataDir = join(e2e.tempDir(), 'data');
      const result = await runCli(['daemon', '--listen', address, '--data-dir', dataDir], { timeoutMs: 30_000 });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${address} is already in use`);
      expect(result.stderr).toMatch(/--listen/);
      expect((await daemon.cli(['list'])).code).toBe(0);
    });

    test('on startup it prints every route it serves and its address', async ({ expect }) => {
      await daemon.waitForStdout(/^ {2}DELETE \/api\/tasks\/:id$/m);
      expect(daemon.stdout).toMatch(/^scheduler \d+\.\d+\.\d+ listening on http:\/\/127\.0\.0\.1:\d+$/m);
      for (const route of ['GET    /api/tasks', 'POST   /api/tasks', 'GET    /api/tasks/:id', 'PUT    /api/tasks/:id', 'DELETE /api/tasks/:id']) {
        expect(daemon.stdout).toContain(`  ${route}\n`);
      }
    });
  });

  describe('the bearer token', () => {
    test('listening on 0.0.0.0 without a token: the daemon refuses to start', async ({ expect }) => {
      const dataDir = join(e2e.tempDir(), 'data');
      // If it started, it would not exit: runCli would time out and fail the test.
      const result = await runCli(['daemon', '--listen', '0.0.0.0:0', '--data-dir', dataDir], { timeoutMs: 30_000 });
      expect(result.code).not.toBe(0);
      expect(result.code).toBe(2);
      expect(result.stdout).not.toMatch(/listening on/);
      expect(result.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
      expect(result.stderr).toMatch(/SCHEDULER_TOKEN/);
    });

    test('with SCHEDULER_TOKEN on the daemon: a client without it, or with another, fails with exit 3; with it, it works', async ({ expect }) => {
      const token = 'e2e-secret-token';
      const secured = await e2e.startDaemon({ listen: '0.0.0.0:0', env: { SCHEDULER_TOKEN: token } });
      await secured.waitForStdout(/^data directory: .* \(bearer token required\)$/m);
      const server = `http://127.0.0.1:${secured.port}`;

      for (const [args, env] of [
        [['list'], {}],
        [['submit', 'sneaky', '-type=delay', '-time=1s', '-script=true'], { SCHEDULER_TOKEN: 'wrong' }],
        [['get', 'sneaky'], {}],
      ] as const) {
        const result = await runCli(['--server', server, ...args], { env });
        expect(result.code, `${args.join(' ')} ${JSON.stringify(env)}: ${result.stderr}`).toBe(3);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(/missing or wrong bearer token: set SCHEDULER_TOKEN/);
      }

      const env = { SCHEDULER_TOKEN: token };
      expect(await runCli(['--server', server, 'list'], { env })).toMatchObject({ code: 0, stdout: 'no tasks\n' });
      // The script does not see the daemon's token.
      const submitted = await runCli(['--server', server, 'submit', 'trusted', '-type=delay', '-time=100ms', '-script=echo "[$SCHEDULER_TOKEN]"'], { env });
      expect(submitted.code, submitted.stderr).toBe(0);
      await secured.waitForStatus('trusted', 'Executed');
      const task = parseJson<TaskView>(await runCli(['--server', server, 'get', 'trusted', '--json'], { env }));
      expect(task.results[0]).toMatchObject({ outcome: 'succeeded', stdout: '[]\n' });

      // --token-file works as well.
      const tokenFile = join(e2e.tempDir(), 'token');
      writeFileSync(tokenFile, `${token}\n`);
      const list = await runCli(['--server', server, '--token-file', tokenFile, 'list', '--json']);
      expect(list.code, list.stderr).toBe(0);
      expect(parseJson<TaskView[]>(list).map((t) => t.id)).toEqual(['trusted']);
    });
  });
});

describe('after the errors', () => {
  test('none of the refused submissions left a task behind', async ({ expect }) => {
    const tasks = parseJson<TaskView[]>(await daemon.cli(['list', '--json']));
    expect(tasks.map((task) => task.id)).toEqual(['twice']);
  });
});
