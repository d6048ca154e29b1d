/**
 * Figure 7: a daemon holding 1,000,000 pending tasks (quick: 100,000), written into its
 * database before it starts with the store's own code (prefill.ts; a million HTTP submits
 * would take minutes). Then, on the running daemon: a few seconds of HTTP submits (so that
 * RSS is that of a daemon that has served writes, not only started), pages of 100 from
 * GET /api/tasks, one request at a time following nextCursor (the first 200 the daemon
 * serves printed beside, the next 200 the figure); RSS; and a restart, timed
 * from the spawn until /healthz answers 200.
 */
import { execFile } from 'node:child_process';
import { Agent, get } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { prefillPending } from '../prefill.js';
import { readMemoryMB } from '../proc-stats.js';
import { absoluteRow, detail, type BenchOptions, type FigureReport } from '../report.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import type { PageTimes } from '../page-reader.js';
import { runWrk, wrkMissing } from '../wrk.js';

const maxRssMB = 200;
const maxPageP99Ms = 5;
const maxRestartMs = 1000;
const pageRequests = 200;
/** Pages read first and not counted: a new daemon's first pages pay for V8 compiling the route's code (printed beside). */
const warmUpPages = 200;
const pageReader = join(dirname(fileURLToPath(import.meta.url)), '..', 'page-reader.js');
const settleMs = 2000;

export async function manyPending(options: BenchOptions): Promise<FigureReport> {
  const count = options.quick ? 100_000 : 1_000_000;
  const label = options.quick ? '100k' : '1M';
  const prefillStarted = performance.now();
  const daemon = await startBenchDaemon({ label: 'pending', prepare: (dataDir) => prefillPending(dataDir, count) });
  try {
    detail(`${count.toLocaleString('en')} pending tasks written into the database before the start, in-process with the store's code: ${((performance.now() - prefillStarted) / 1000).toFixed(1)} s with the first start${options.quick ? ' (quick: 100,000 instead of 1,000,000)' : ''}`);
    const started = readMemoryMB(daemon.pid);
    const missing = wrkMissing();
    if (missing) detail(`no submits before measuring RSS: ${missing}`);
    else {
      const submits = await runWrk({ url: daemon.url, request: { method: 'POST', idPrefix: 'more' }, durationSec: options.quick ? 2 : 5 });
      detail(`then ${submits.requests} submits through HTTP (wrk, ${Math.round(submits.reqPerSec)}/s, non-2xx ${submits.non2xx})`);
    }
    const { firstPages, pages } = await pageTimes(daemon.url);
    detail(`GET /api/tasks?limit=100, pages one after another following nextCursor (keep-alive, a node:http client process of its own): the first ${warmUpPages} the daemon served: ${formatSummary(firstPages)}`);
    detail(`  the next ${pageRequests}, the figure: ${formatSummary(pages)}`);
    await sleep(settleMs);
    const settled = readMemoryMB(daemon.pid);
    detail(`RSS: ${started.rss.toFixed(0)} MB just after the start, ${settled.rss.toFixed(0)} MB after the submits and pages (${settled.anon.toFixed(0)} MB anonymous); peak ${settled.hwm.toFixed(0)} MB`);
    const restartMs = await daemon.restart();
    detail(`restart: SIGTERM, then a new daemon on the same data directory answered /healthz 200 ${restartMs.toFixed(0)} ms after its spawn; RSS then ${readMemoryMB(daemon.pid).rss.toFixed(0)} MB`);
    return {
      rows: [
        absoluteRow(`7a. ${label} pending: RSS`, `${settled.rss.toFixed(0)} MB`, `<= ${maxRssMB} MB`, settled.rss <= maxRssMB),
        absoluteRow(`7b. ${label} pending: a page of 100, p99`, `${pages.p99.toFixed(2)} ms`, `< ${maxPageP99Ms} ms`, pages.p99 < maxPageP99Ms && pages.n === pageRequests),
        absoluteRow(`7c. ${label} pending: restart until serving`, `${restartMs.toFixed(0)} ms`, `<= ${maxRestartMs} ms`, restartMs <= maxRestartMs),
      ],
    };
  } finally {
    await daemon.stop();
  }
}

/**
 * Times `warmUpPages` then `pageRequests` sequential page requests (ms), read by a small
 * process of their own (page-reader.ts) following nextCursor on one connection.
 */
function pageTimes(url: string): Promise<{ firstPages: Summary; pages: Summary }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [pageReader, url, String(warmUpPages + pageRequests)], { timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`page-reader: ${stderr.trim() || error.message}`));
      const { times } = JSON.parse(stdout) as PageTimes;
      resolve({ firstPages: summarize(times.slice(0, warmUpPages)), pages: summarize(times.slice(warmUpPages)) });
    });
  });
}

/** The body of a GET that answers 200 (within 10 s), over `agent`; figure 11 reads its pages with it too. */
export function getText(url: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (text: string) => (body += text));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: HTTP ${response.statusCode}`))));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    request.on('error', reject);
  });
}
