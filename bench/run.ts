/**
 * npm run bench: measures the daemon against its performance targets and prints each
 * figure beside its target. It asserts nothing. Each figure runs in its own daemon with a
 * fresh temporary data directory (removed afterwards); all traffic goes to 127.0.0.1.
 *
 * Figures can be chosen by number: `npm run bench -- 6 7` (or `node dist/bench/run.js 6 7`)
 * runs only figures 6 and 7 (`8` runs both 8a and 8b). Without arguments every figure runs.
 * The bare-server reference is measured only when figure 1 or 2 runs.
 */
import { burstLateness } from './figures/burst-lateness.js';
import { executionOverhead } from './figures/execution-overhead.js';
import { burstFirePrecision, idleFirePrecision } from './figures/fire-precision.js';
import { getThroughput } from './figures/get-throughput.js';
import { pendingMemory } from './figures/pending-memory.js';
import { singleLateness } from './figures/single-lateness.js';
import { futureTaskBody, submitThroughput } from './figures/submit-throughput.js';
import { httpCeiling, type Ceiling } from './figures/http-ceiling.js';
import { outputThroughput } from './figures/output-throughput.js';
import { watcherFanout } from './figures/watcher-fanout.js';
import { machineCpuMeter } from './proc-stats.js';
import { sleep } from './api.js';
import { failedFigure, printFigure, printSummary, type FigureResult } from './report.js';

let ceiling: Ceiling | undefined;

const figures: { name: string; target: string; measure: () => Promise<FigureResult> }[] = [
  { name: '1. submits/s (committed before ack)', target: '>= 20000/s', measure: () => submitThroughput(ceiling) },
  { name: '2. GET /api/tasks/{id} per s', target: '>= 50000/s', measure: () => getThroughput(ceiling) },
  { name: '3. RSS with 100k pending tasks', target: '<= 150 MB', measure: pendingMemory },
  { name: '4. 1,000 due at once: p99 lateness', target: '<= 1.2x bare p99', measure: burstLateness },
  { name: '5. one task on idle daemon: p99 lateness', target: '<= 5 ms', measure: singleLateness },
  { name: '6. 10k SSE watchers: one event fanned out', target: 'none set', measure: watcherFanout },
  { name: '7. output of one run: MB/s', target: 'none set', measure: outputThroughput },
  { name: '8a. fire-time precision, idle: p99 startedAt - scheduledAt', target: 'a few ms (p99 <= 5 ms)', measure: idleFirePrecision },
  { name: '8b. fire-time precision, 1,000 at once', target: 'none set', measure: burstFirePrecision },
  { name: '9. start of a run: plain, with limits, sandboxed', target: 'none set', measure: executionOverhead },
];

/** The whole run is cut off after this, whatever hangs. */
const overallLimitMs = 8 * 60_000;

/** The figures named by number on the command line, or all of them. */
function chosenFigures(args: string[]): typeof figures {
  // "8a." and "8b." are both figure 8.
  const number = (figure: (typeof figures)[number]) => /^\d+/.exec(figure.name)![0];
  const unknown = args.filter((arg) => !figures.some((figure) => number(figure) === arg));
  if (unknown.length > 0) {
    console.error(`bench: no figure ${unknown.join(', ')}; figures are 1 to ${number(figures.at(-1)!)}, e.g. "npm run bench -- 6 7"`);
    process.exit(2);
  }
  return args.length === 0 ? figures : figures.filter((figure) => args.includes(number(figure)));
}

async function main(): Promise<void> {
  const chosen = chosenFigures(process.argv.slice(2));
  const limit = setTimeout(() => {
    console.error(`bench: still running after ${overallLimitMs / 1000} s; giving up`);
    process.exit(1);
  }, overallLimitMs);
  limit.unref();
  // process.exit runs the exit hooks that end the daemons and remove their directories.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

  const started = performance.now();
  console.log(`scheduler benchmark: node ${process.version}, ${(await import('node:os')).cpus().length} CPUs`);
  const background = machineCpuMeter();
  await sleep(1000);
  console.log(`machine busy before starting: ${background().toFixed(2)} cores (other processes; figures drop when they share the machine)`);
  if (chosen.some((figure) => /^[12]\./.test(figure.name))) await measureCeiling();

  const results: FigureResult[] = [];
  for (const figure of chosen) {
    let result: FigureResult;
    try {
      result = await figure.measure();
    } catch (error) {
      result = failedFigure(figure.name, figure.target, error);
    }
    printFigure(result);
    results.push(result);
  }
  printSummary(results);
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** The bare node:http server's figures, the reference for figures 1 and 2. */
async function measureCeiling(): Promise<void> {
  try {
    ceiling = await httpCeiling(futureTaskBody);
    console.log(
      `reference, same load against a bare node:http server with a constant answer: ` +
        `GET ${Math.round(ceiling.getPerSec)}/s (${ceiling.getCpuUs.toFixed(0)} us CPU each), POST ${Math.round(ceiling.postPerSec)}/s (${ceiling.postCpuUs.toFixed(0)} us CPU each)`,
    );
  } catch (error) {
    console.log(`reference server: not measured (${(error as Error).message})`);
  }
}

await main();
