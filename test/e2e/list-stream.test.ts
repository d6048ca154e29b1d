/**
 * `scheduler list` with many tasks, against a real daemon: 2,000 tasks listed with a page
 * size of 250 (eight pages), as a table, a JSON array and NDJSON. Every task appears once,
 * in the daemon's order (the order the API lists them in one large page). And the issue's
 * flag-order example, submitted by the real CLI.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { SchedulerClient } from '../../src/client/client.js';
import { ok, parseJson, runCli } from '../support/cli.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';

const e2e = useE2e();
let daemon: DaemonProcess;
const count = 2_000;
/** The ids in the daemon's order. */
let expected: string[] = [];

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  const client = new SchedulerClient({ baseUrl: daemon.url });
  const started = Date.now();
  // Batches of requests in parallel: fast, and the order within a batch is the daemon's to choose.
  for (let from = 0; from < count; from += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, offset) => client.submit({ id: `bulk-${String(from + offset).padStart(5, '0')}`, type: 'delay', time: '24h', script: 'true' })),
    );
  }
  console.log(`list-stream: submitted ${count} tasks in ${Date.now() - started} ms`);
  expected = [];
  for await (const page of client.listPages({ limit: 1000 })) for (const task of page) expected.push(task.id);
  expect(new Set(expected).size).toBe(count);
}, 60_000);

describe('scheduler list, page by page', () => {
  test('the table: a header, then every task once, in order', async () => {
    const result = ok(await daemon.cli(['list', '--page-size', '250'], { env: { COLUMNS: '100' } }), 'list');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+TIME\s+STATUS\s+LAST CHANGE\s+NEXT RUN\s+SCRIPT$/);
    const ids = lines.slice(1).map((line) => line.split(/\s+/)[0]);
    expect(ids).toEqual(expected);
    expect(lines.slice(1).every((line) => /^bulk-\d{5}\s+delay\s+24h\s+ToBeExecuted\s/.test(line))).toBe(true);
  });

  test('--json: one valid array of every task, in order', async () => {
    const result = ok(await daemon.cli(['list', '-page-size=250', '-json=true']), 'list --json');
    const tasks = parseJson<Array<{ id: string; script: string }>>(result);
    expect(tasks.map((task) => task.id)).toEqual(expected);
    expect(tasks[0]).toMatchObject({ script: 'true', type: 'delay', status: 'ToBeExecuted' });
  });

  test('--ndjson: one task per line, each valid JSON, in order, a request per page', async () => {
    const proxy = await e2e.proxy(daemon);
    const result = ok(await runCli(['--server', proxy.url, 'list', '--ndjson', '--page-size=250']), 'list --ndjson');
    expect(proxy.answered('/api/tasks')).toHaveLength(count / 250);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(count);
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(expected);
  });

  test('--status filters every page', async () => {
    const result = ok(await daemon.cli(['list', '--status', 'Stopped', '--page-size', '250']), 'list --status');
    expect(result.stdout).toBe('no tasks\n');
  });
});

describe("the issue's flag order", () => {
  test('submit --sandbox -script=ls (a bare boolean before a spec-style flag) submits, in any order', async () => {
    for (const [id, args] of [
      ['order-a', ['--no-sandbox', '-script=ls', '-type=delay', '-time=24h']],
      ['order-b', ['-type=delay', '--no-sandbox', '-time=24h', '-script=ls', '--json=false']],
    ] as const) {
      ok(await daemon.cli(['submit', ...args.slice(0, 1), id, ...args.slice(1)]), `submit ${id}`);
      const task = parseJson<{ script: string; type: string; sandbox: boolean }>(ok(await daemon.cli(['get', '-watch=false', id, '--json']), 'get'));
      expect(task).toMatchObject({ script: 'ls', type: 'delay', sandbox: false });
    }
    // --sandbox itself needs bubblewrap on the machine; what matters here is that its
    // neighbour is read as a flag: the daemon gets the script, whatever it says of the sandbox.
    const result = await daemon.cli(['submit', '--sandbox', '-script=ls', 'order-c', '-type=delay', '-time=24h']);
    expect(result.stderr).not.toMatch(/required option|--script/);
  });
});
