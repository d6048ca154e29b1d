/**
 * npm run bench: measures the daemon, each figure beside a reference measured in the same
 * run (absolute figures drift on a shared machine; ratios much less), and prints one table
 * at the end: figure, ours, reference, ratio, target, met. It asserts nothing. Each figure
 * runs in its own daemon with a fresh temporary data directory (removed afterwards); all
 * traffic goes to 127.0.0.1.
 *
 *   npm run bench                   every figure (about 10 minutes on 2 cores)
 *   npm run bench -- --quick        a short version of every figure (under 2 minutes)
 *   npm run bench -- 4 5            figures 4 and 5 only (with or without --quick)
 *
 * HTTP load comes from wrk, the burst reference is compiled with cc: when either is missing
 * the figures that need it say so and are skipped; the bench installs nothing.
 *
 * `npm run bench -- --store postgres://user@host/database [--nodes N]` measures the
 * PostgreSQL cluster instead (cluster-run.ts), beside one SQLite daemon of the same run.
 */
import { cpus } from 'node:os';
import { sleep } from './api.js';
import { clusterSetups, runCluster } from './cluster-run.js';
import { burstLateness } from './figures/burst-lateness.js';
import { burstWithPending } from './figures/burst-with-pending.js';
import { dashboardReads } from './figures/dashboard-reads.js';
import { executionOverhead } from './figures/execution-overhead.js';
import { idleFirePrecision } from './figures/fire-precision.js';
import { getThroughput } from './figures/get-throughput.js';
import { manyPending } from './figures/many-pending.js';
import { outputThroughput } from './figures/output-throughput.js';
import { singleLateness } from './figures/single-lateness.js';
import { submitThroughput } from './figures/submit-throughput.js';
import { watcherFanout } from './figures/watcher-fanout.js';
import { machineCpuMeter, stolenCpuMeter } from './proc-stats.js';
import { failedRow, printTable, type BenchOptions, type FigureReport, type Row } from './report.js';

interface Figure {
  number: number;
  name: string;
  measure: (options: BenchOptions) => Promise<FigureReport>;
}

const figures: Figure[] = [
  { number: 1, name: '1,000 tasks due at one instant, against a C posix_spawn loop', measure: burstLateness },
  { number: 2, name: 'the same burst with other tasks pending, against the burst with none', measure: burstWithPending },
  { number: 3, name: 'one task on an idle daemon', measure: singleLateness },
  { number: 4, name: 'GET /api/tasks/{id} per second, against bare Fastify', measure: getThroughput },
  { number: 5, name: 'durable submits per second, against bare Fastify', measure: submitThroughput },
  { number: 6, name: '10,000 SSE watchers of one task', measure: watcherFanout },
  { number: 7, name: 'many pending tasks: RSS, a page of 100, a restart', measure: manyPending },
  { number: 8, name: 'output of one run (no target)', measure: outputThroughput },
  { number: 9, name: 'fire-time precision on an idle daemon', measure: idleFirePrecision },
  { number: 10, name: 'start of a run: plain, with limits, sandboxed (no target)', measure: executionOverhead },
  { number: 11, name: 'what the dashboard reads at a million tasks and a million runs: pages of 100', measure: dashboardReads },
];

/** The whole run is cut off after this, whatever hangs. */
const limitMs = { full: 30 * 60_000, quick: 15 * 60_000, cluster: 12 * 60_000 };

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: npm run bench [-- [--quick] [FIGURE...]]   figures 1 to ${figures.length}, e.g. "npm run bench -- --quick 4 5"`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.some((arg) => arg.startsWith('--store') || arg.startsWith('--nodes'))) {
    const setups = clusterSetups(args);
    await measure(limitMs.cluster, () => runCluster(setups));
    return;
  }
  const quick = args.includes('--quick');
  const numbers = args.filter((arg) => arg !== '--quick');
  const unknown = numbers.filter((arg) => !figures.some((figure) => String(figure.number) === arg));
  if (unknown.length > 0) usage(`no figure ${unknown.join(', ')}`);
  const chosen = numbers.length === 0 ? figures : figures.filter((figure) => numbers.includes(String(figure.number)));

  await measure(quick ? limitMs.quick : limitMs.full, async () => {
    if (quick) console.log('QUICK version (--quick): shorter loads and fewer tasks, as each figure says; run without --quick for the full figures');
    const rows: Row[] = [];
    for (const figure of chosen) {
      console.log(`\n== ${figure.number}. ${figure.name}`);
      const started = performance.now();
      try {
        rows.push(...(await figure.measure({ quick })).rows);
      } catch (error) {
        console.log(`   failed: ${(error as Error).stack ?? String(error)}`);
        rows.push(failedRow(`${figure.number}. ${figure.name}`, error));
      }
      console.log(`   (figure ${figure.number}: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    printTable(quick ? 'Summary (QUICK version: fewer tasks and shorter loads)' : 'Summary', rows);
  });
}

/** Runs `work` under an overall time limit, with the machine's state before and the total time after. */
async function measure(limit: number, work: () => Promise<void>): Promise<void> {
  const timer = setTimeout(() => {
    console.error(`bench: still running after ${limit / 1000} s; giving up`);
    process.exit(1);
  }, limit);
  timer.unref();
  // process.exit runs the exit hooks that end the daemons and remove their directories.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const started = performance.now();
  console.log(`scheduler benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  const background = machineCpuMeter();
  await sleep(1000);
  console.log(`machine busy before starting: ${background().toFixed(2)} cores (other processes; figures drop when they share the machine, ratios much less)`);
  const stolen = stolenCpuMeter();
  await work();
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s; CPU time stolen by the hypervisor for other machines meanwhile (steal): ${stolen().toFixed(1)}% (above a few percent, every figure reads worse)`);
}

await main();
