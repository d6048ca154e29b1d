/**
 * The reader of figure 7b, run as its own small process (as wrk is for figures 4 and 5): the
 * benchmark process has just written up to a million tasks into the database in-process,
 * and its garbage collector, running while it timed the pages, showed in their times.
 *
 *   node dist/bench/page-reader.js URL PAGES
 *     Reads PAGES pages of 100 from URL/api/tasks one after another over one keep-alive
 *     connection, the first without a cursor, each next one from the previous nextCursor.
 *     Prints one JSON line: { "times": [ms per request, in order] }. Exits 1 with the reason
 *     on stderr if a request fails or a page holds fewer than 100 tasks.
 */
import { Agent, get } from 'node:http';
import { assertLoopback } from './api.js';

/** What the reader prints. */
export interface PageTimes {
  /** Milliseconds from each request's start to the last byte of its answer, in order. */
  times: number[];
}

const pageSize = 100;

async function main(): Promise<void> {
  const [url, pagesText] = process.argv.slice(2);
  const pages = Number(pagesText);
  if (url === undefined || !Number.isInteger(pages) || pages < 1) throw new Error('usage: page-reader.js URL PAGES');
  assertLoopback(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let cursor: string | null = null;
  try {
    for (let index = 0; index < pages; index++) {
      const path: string = `/api/tasks?limit=${pageSize}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const started = performance.now();
      const body = await getBody(`${url}${path}`, agent);
      times.push(performance.now() - started);
      const page = JSON.parse(body.toString('utf8')) as { tasks: unknown[]; nextCursor: string | null };
      if (page.tasks.length !== pageSize) throw new Error(`${path} gave ${page.tasks.length} tasks, not ${pageSize}`);
      cursor = page.nextCursor;
    }
  } finally {
    agent.destroy();
  }
  process.stdout.write(`${JSON.stringify({ times } satisfies PageTimes)}\n`);
}

/** The body of a GET that answers 200 within 10 s, as bytes (decoded after the clock stops). */
function getBody(url: string, agent: Agent): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${url}: HTTP ${response.statusCode}`))));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    request.on('error', reject);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`page-reader: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
