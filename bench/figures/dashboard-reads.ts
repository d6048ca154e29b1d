/**
 * Figure 11: what the dashboard reads, on a daemon holding 1,000,000 tasks (quick: 100,000):
 * first 100,000 stopped tasks with 10 runs each, 1,000,000 runs (quick: 10,000 and 100,000),
 * then pending tasks (prefill.ts, the store's own code, before the daemon starts). On the
 * running daemon, pages of 100 asked one after another following nextCursor (from the first
 * page again after the last), after one request of each kind not counted (a route compiles
 * its schemas at its first request): GET /api/tasks with no filter, a status, an id prefix
 * (alone, with a status its tasks have, with one none of them has), recent=10; GET /api/runs
 * with no filter, a common outcome, a rare one, and a window of fire times. Also how long
 * migration 13 takes to build its indexes on that database: what an upgrade costs at start.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Agent } from 'node:http';
import { migrations } from '../../src/store/sqlite/migrations.js';
import { startBenchDaemon } from '../daemon-process.js';
import { historyStart, prefillHistory, prefillPending } from '../prefill.js';
import { absoluteRow, detail, type BenchOptions, type FigureReport, type Row } from '../report.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import { getText } from './many-pending.js';

const maxPageP99Ms = 100;
const runsPerTask = 10;

/** One kind of page the dashboard asks for. */
interface Query {
  key: string;
  label: string;
  path: string;
  /** The field of the answer holding its items. */
  items: 'tasks' | 'runs';
}

export async function dashboardReads(options: BenchOptions): Promise<FigureReport> {
  const tasks = options.quick ? 100_000 : 1_000_000;
  const withRuns = tasks / 10;
  const label = options.quick ? '100k' : '1M';
  const requests = options.quick ? 20 : 50;
  const prefillStarted = performance.now();
  let indexBuildMs = 0;
  const daemon = await startBenchDaemon({
    label: 'dashboard',
    prepare: async (dataDir) => {
      await prefillHistory(dataDir, withRuns, runsPerTask);
      await prefillPending(dataDir, tasks - withRuns);
      indexBuildMs = rebuildIndexes(join(dataDir, 'scheduler.db'));
    },
  });
  try {
    detail(
      `${withRuns.toLocaleString('en')} stopped tasks with ${runsPerTask} runs each, then ${(tasks - withRuns).toLocaleString('en')} pending ones, ` +
        `written before the start with the store's code: ${((performance.now() - prefillStarted) / 1000).toFixed(1)} s with the first start` +
        (options.quick ? ' (quick: a tenth of the full figure)' : ''),
    );
    detail(
      `migration 13 (the indexes of runs by fire and by outcome, of tasks by status and id) on those ${(withRuns * runsPerTask).toLocaleString('en')} runs ` +
        `and ${tasks.toLocaleString('en')} tasks: ${(indexBuildMs / 1000).toFixed(2)} s`,
    );
    // A window of an hour in the middle of the histories.
    const middle = historyStart + Math.floor((withRuns * runsPerTask) / 2) * 1000;
    const window = `since=${new Date(middle).toISOString()}&until=${new Date(middle + 3_600_000).toISOString()}`;
    const queries: Query[] = [
      { key: 'a', label: 'GET /api/tasks', path: '/api/tasks?limit=100', items: 'tasks' },
      { key: 'b', label: 'GET /api/tasks?status=ToBeExecuted', path: '/api/tasks?limit=100&status=ToBeExecuted', items: 'tasks' },
      { key: 'c', label: 'GET /api/tasks?prefix=pending-5', path: '/api/tasks?limit=100&prefix=pending-5', items: 'tasks' },
      { key: 'd', label: 'GET /api/tasks?prefix=history-&status=Stopped', path: '/api/tasks?limit=100&prefix=history-&status=Stopped', items: 'tasks' },
      // No task under the prefix has the status: the page is found empty without reading them.
      { key: 'e', label: 'GET /api/tasks?prefix=pending-&status=Stopped (none)', path: '/api/tasks?limit=100&prefix=pending-&status=Stopped', items: 'tasks' },
      { key: 'f', label: 'GET /api/tasks?recent=10', path: '/api/tasks?limit=100&recent=10', items: 'tasks' },
      { key: 'g', label: 'GET /api/runs', path: '/api/runs?limit=100', items: 'runs' },
      { key: 'h', label: 'GET /api/runs?outcome=failed (1 in 20)', path: '/api/runs?limit=100&outcome=failed', items: 'runs' },
      { key: 'i', label: `GET /api/runs?outcome=killed (${withRuns / 10_000} runs)`, path: '/api/runs?limit=100&outcome=killed', items: 'runs' },
      { key: 'j', label: 'GET /api/runs?since=&until= (an hour)', path: `/api/runs?limit=100&${window}`, items: 'runs' },
    ];
    const rows: Row[] = [];
    for (const query of queries) {
      const { times, items } = await pageTimes(daemon.url, query, requests);
      detail(`${query.label}, a page of 100 (${items} items over ${requests} pages): ${formatSummary(times)}`);
      rows.push(absoluteRow(`11${query.key}. ${label}: ${query.label}`, `p99 ${times.p99.toFixed(2)} ms`, `< ${maxPageP99Ms} ms`, times.p99 < maxPageP99Ms));
    }
    return { rows };
  } finally {
    await daemon.stop();
  }
}

/** Drops the indexes of migration 13 and builds them again as the migration does; the ms it took. */
function rebuildIndexes(path: string): number {
  const db = new Database(path);
  try {
    db.exec('DROP INDEX runs_by_fire; DROP INDEX runs_by_outcome; DROP INDEX tasks_by_status_id;');
    const started = performance.now();
    db.exec(migrations[12]!);
    return performance.now() - started;
  } finally {
    db.close();
  }
}

/** Times `count` sequential requests of `query`'s pages, following nextCursor; how many items they held. */
async function pageTimes(url: string, query: Query, count: number): Promise<{ times: Summary; items: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let items = 0;
  let cursor: string | null = null;
  try {
    await getText(`${url}${query.path}`, agent);
    for (let index = 0; index < count; index++) {
      const path: string = `${query.path}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const started = performance.now();
      const body = await getText(`${url}${path}`, agent);
      times.push(performance.now() - started);
      const page = JSON.parse(body) as Record<Query['items'], unknown[]> & { nextCursor: string | null };
      items += page[query.items].length;
      cursor = page.nextCursor;
    }
  } finally {
    agent.destroy();
  }
  return { times: summarize(times), items };
}
