/**
 * `scheduler list` over many pages: a real daemon with 3,000 tasks, listed 250 at a time,
 * as a table, a JSON array and NDJSON. Every task appears exactly once, in submission
 * order, and the JSON forms parse. (The memory bound comes from printing page by page; the
 * renderer's own test lays out 200,000 rows.)
 */
import { describe, expect, test } from 'vitest';
import { ok, useE2e, type DaemonProcess, type TaskView } from './harness.js';

const e2e = useE2e();
const count = 3000;

/** Submits `count` tasks through the API, 50 at a time; resolves to their ids in submission order. */
async function submitMany(daemon: DaemonProcess): Promise<string[]> {
  for (let first = 0; first < count; first += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - first) }, (_, i) =>
        daemon.api('POST', '/api/tasks', { id: `t${String(first + i).padStart(5, '0')}`, type: 'delay', time: '1h', script: `echo ${first + i}` }),
      ),
    );
  }
  // Tasks submitted at once commit in some order: the daemon's own order is the reference.
  const ids: string[] = [];
  for (let cursor: string | null | undefined; cursor !== null; ) {
    const page = (await daemon.api('GET', `/api/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)) as { tasks: TaskView[]; nextCursor: string | null };
    ids.push(...page.tasks.map((task) => task.id));
    cursor = page.nextCursor;
  }
  return ids;
}

describe('scheduler list, a page at a time', () => {
  test('3,000 tasks: each exactly once, in order, as a table, JSON and NDJSON', async () => {
    const daemon = await e2e.startDaemon();
    const order = await submitMany(daemon);
    expect(order).toHaveLength(count);

    const table = ok(await daemon.cli(['list', '--page-size', '250'], { timeoutMs: 60_000 }), 'list');
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+TIME\s+STATUS\s+LAST CHANGE\s+NEXT RUN\s+SCRIPT$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(order);

    const json = JSON.parse(ok(await daemon.cli(['list', '--json', '-page-size=250'], { timeoutMs: 60_000 }), 'list --json').stdout) as TaskView[];
    expect(json.map((task) => task.id)).toEqual(order);
    expect(json[0]).toMatchObject({ type: 'delay', time: '1h', status: 'ToBeExecuted' });

    const ndjson = ok(await daemon.cli(['list', '--ndjson', '--page-size=250'], { timeoutMs: 60_000 }), 'list --ndjson').stdout;
    expect(ndjson.trimEnd().split('\n').map((line) => (JSON.parse(line) as TaskView).id)).toEqual(order);
  }, 120_000);

  test('a page size outside 1 to 1000 is refused, saying the range', async () => {
    const daemon = await e2e.startDaemon();
    const result = await daemon.cli(['list', '--page-size', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('from 1 to 1000');
  });
});
