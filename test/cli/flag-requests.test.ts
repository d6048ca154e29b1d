/**
 * What the real commands send, whatever the flag style and order: the CLI (in process, with
 * its real actions and client) talks to a small HTTP server in the test that records each
 * request and answers as the daemon would in shape. Every option of `submit` is mapped to
 * the field it sets, and the mapping must cover every option the program has.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/context.js';
import { buildProgram, runCli } from '../../src/cli/main.js';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

const requests: Recorded[] = [];
let server: Server;
let url = '';
const dir = mkdtempSync(join(tmpdir(), 'scheduler-flags-'));
const envFile = join(dir, 'vars.env');

/** The task a submit answers with, shaped enough for the CLI to print it. */
function taskAnswer(body: Record<string, unknown>): Record<string, unknown> {
  return { id: body.id ?? 'job', type: body.type ?? 'cron', time: body.time ?? '10s', timezone: 'UTC', end: null, nextRunAt: '2026-11-25T10:00:10.000Z', nextRuns: [], results: [] };
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

beforeAll(async () => {
  writeFileSync(envFile, 'FROM_FILE=1\n');
  server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const parsed = new URL(request.url ?? '/', 'http://x');
      requests.push({ method: request.method ?? '', path: parsed.pathname, query: Object.fromEntries(parsed.searchParams), body });
      const answer = request.method === 'GET' && parsed.pathname === '/api/tasks' ? { tasks: [], nextCursor: null } : taskAnswer(body ?? {});
      response.writeHead(request.method === 'POST' && !parsed.searchParams.has('dryRun') ? 201 : 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const silentIo = (out: string[] = [], err: string[] = []): CliIo => ({
  out: (text) => void out.push(text),
  err: (text) => void err.push(text),
  write: (text) => void out.push(text),
  writeErr: (text) => void err.push(text),
  stderrIsTerminal: false,
  columns: 100,
});

/** Runs `scheduler --server URL ARGS` in process; returns the one request it sent, and what it printed. */
async function send(args: string[]): Promise<{ request: Recorded; out: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io = silentIo(out, err);
  const program = buildProgram(io);
  for (const command of program.commands) command.configureOutput({ writeOut: () => undefined, writeErr: (text) => void err.push(text) });
  const before = requests.length;
  const status = await runCli(['--server', url, ...args], io, program);
  if (status !== 0) throw new Error(`scheduler ${JSON.stringify(args)} exited ${status}: ${err.join('\n')}`);
  expect(requests.length - before, `requests of ${JSON.stringify(args)}`).toBe(1);
  return { request: requests.at(-1)!, out: out.join('\n') };
}

/** How the schedule is given when the option under test is not one of its flags. */
const schedule = ['-type=cron', '-time=10s'];

/**
 * Each submit option: its name (without dashes), its value ('' for a bare boolean), the
 * schedule flags to go with it, and the request it must produce.
 */
const submitOptions: Record<string, { value: string; with?: string[]; body?: Record<string, unknown>; query?: Record<string, string>; printsJson?: boolean }> = {
  type: { value: 'delay', with: ['-time=1m'], body: { type: 'delay', time: '1m' } },
  time: { value: '20s', with: ['-type=cron'], body: { type: 'cron', time: '20s' } },
  every: { value: '30s', with: [], body: { type: 'cron', time: '30s' } },
  cron: { value: '0 9 * * MON-FRI', with: [], body: { type: 'cron', time: '0 9 * * MON-FRI' } },
  at: { value: '2026-12-24 23:00', with: [], body: { type: 'at', time: '2026-12-24 23:00' } },
  tz: { value: 'Europe/Paris', body: { timezone: 'Europe/Paris' } },
  start: { value: '2026-12-01T00:00:00Z', body: { start: '2026-12-01T00:00:00Z' } },
  end: { value: '2026-12-31T00:00:00Z', body: { end: '2026-12-31T00:00:00Z' } },
  jitter: { value: '5s', body: { jitter: '5s' } },
  script: { value: '-la; echo $((1+2))', body: { script: '-la; echo $((1+2))' } },
  lang: { value: 'python', body: { lang: 'python' } },
  timeout: { value: '1m', body: { timeout: '1m' } },
  overlap: { value: 'allow', body: { overlap: 'allow' } },
  'max-parallel': { value: '3', body: { maxParallel: 3 } },
  retries: { value: '2', body: { retries: 2 } },
  'retry-delay': { value: '2s', body: { retryDelay: '2s' } },
  'retry-max-delay': { value: '1m', body: { retryMaxDelay: '1m' } },
  'retry-on': { value: '1,75', body: { retryOn: [1, 75] } },
  'catch-up': { value: 'all', body: { catchUp: 'all' } },
  'catch-up-window': { value: '1h', body: { catchUpWindow: '1h' } },
  env: { value: 'GREETING=hi there', body: { env: { GREETING: 'hi there' } } },
  'env-file': { value: envFile, body: { env: { FROM_FILE: '1' } } },
  cwd: { value: '/srv', body: { cwd: '/srv' } },
  user: { value: 'nobody', body: { user: 'nobody' } },
  queue: { value: 'gpu', body: { queue: 'gpu' } },
  sandbox: { value: '', body: { sandbox: true } },
  'no-sandbox': { value: '', body: { sandbox: false } },
  network: { value: '', body: { network: true } },
  'cpu-limit': { value: '30s', body: { limits: { cpu: '30s' } } },
  'memory-limit': { value: '512MiB', body: { limits: { memory: '512MiB' } } },
  'process-limit': { value: '10', body: { limits: { processes: 10 } } },
  'open-file-limit': { value: '64', body: { limits: { openFiles: 64 } } },
  'output-limit': { value: '1MiB', body: { limits: { output: '1MiB' } } },
  'dry-run': { value: '', query: { dryRun: 'true', next: '5' } },
  next: { value: '3', with: [...schedule, '--dry-run'], query: { dryRun: 'true', next: '3' } },
  json: { value: '', printsJson: true },
};

describe('what submit sends, for every option in every style and place', () => {
  const submit = buildProgram(silentIo()).commands.find((command) => command.name() === 'submit')!;

  it('maps every option of submit (a new option must be added here)', () => {
    // --server and --token-file are the program's, accepted after every client command too; they send nothing of the task.
    const own = submit.options.map((option) => option.long!.slice(2)).filter((name) => name !== 'server' && name !== 'token-file');
    expect(Object.keys(submitOptions).sort()).toEqual(own.sort());
  });

  for (const [name, expected] of Object.entries(submitOptions)) {
    it(`--${name}`, async () => {
      const spellings = expected.value === '' ? [[`--${name}`], [`-${name}`], [`--${name}=true`], [`-${name}=true`]].filter((tokens) => !(name === 'no-sandbox' && tokens[0]!.includes('=')))
        : [[`--${name}`, expected.value], [`--${name}=${expected.value}`], [`-${name}=${expected.value}`]];
      const rest = [...(expected.with ?? schedule), ...(name === 'script' ? [] : ['-script=ls'])];
      for (const tokens of spellings) {
        for (const args of [['submit', ...tokens, 'job', ...rest], ['submit', 'job', ...rest, ...tokens], ['submit', ...rest, ...tokens, 'job']]) {
          const { request, out } = await send(args);
          const what = JSON.stringify(args);
          expect(request.method, what).toBe('POST');
          expect(request.path, what).toBe('/api/tasks');
          expect(request.query, what).toEqual(expected.query ?? {});
          expect(request.body, what).toMatchObject({ id: 'job', script: name === 'script' ? expected.value : 'ls', ...expected.body });
          if (expected.printsJson) expect(() => JSON.parse(out), what).not.toThrow();
          else expect(out, what).not.toMatch(/^\{/);
        }
      }
    });
  }

  it('a boolean given =false sends false, or asks for nothing', async () => {
    expect((await send(['submit', 'job', '--sandbox=false', ...schedule, '-script=ls'])).request.body).toMatchObject({ sandbox: false });
    expect((await send(['submit', '-network=false', 'job', ...schedule, '-script=ls'])).request.body).toMatchObject({ network: false });
    expect((await send(['submit', 'job', '-dry-run=false', ...schedule, '-script=ls'])).request.query).toEqual({});
    expect((await send(['submit', 'job', '--json', 'false', ...schedule, '-script=ls'])).out).toMatch(/^submitted job/);
  });
});

describe('what the other commands send', () => {
  it('list: the status and page size, in either style and any order', async () => {
    for (const args of [
      ['list', '-status=Stopped', '--page-size', '7', '--json=false'],
      ['list', '--json', 'false', '-page-size=7', '--status', 'Stopped'],
    ]) {
      const { request, out } = await send(args);
      expect(request.query, args.join(' ')).toEqual({ status: 'Stopped', limit: '7' });
      expect(out).toBe('no tasks');
    }
    expect((await send(['list', '-json=true'])).out).toBe('[]');
  });

  it('get: --watch=false reads the task once', async () => {
    const { request, out } = await send(['get', '-watch=false', 'job', '--json']);
    expect(request).toMatchObject({ method: 'GET', path: '/api/tasks/job', query: {} });
    expect(JSON.parse(out)).toMatchObject({ id: 'job' });
  });

  it('next: -n before or after the id', async () => {
    expect((await send(['next', '-n', '7', 'job'])).request).toMatchObject({ path: '/api/tasks/job/next', query: { n: '7' } });
    expect((await send(['next', 'job', '-n=8', '-json'])).request).toMatchObject({ path: '/api/tasks/job/next', query: { n: '8' } });
  });
});
