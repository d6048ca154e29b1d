/**
 * npm run bench: measures the daemon against its performance targets and prints each
 * figure beside its target. It asserts nothing. Each figure runs in its own daemon with a
 * fresh temporary data directory (removed afterwards); all traffic goes to 127.0.0.1.
 */
import { burstLateness } from './figures/burst-lateness.js';
import { getThroughput } from './figures/get-throughput.js';
import { pendingMemory } from './figures/pending-memory.js';
import { singleLateness } from './figures/single-lateness.js';
import { futureTaskBody, submitThroughput } from './figures/submit-throughput.js';
import { httpCeiling, type Ceiling } from './figures/http-ceiling.js';
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
];

/** The whole run is cut off after this, whatever hangs. */
const overallLimitMs = 5 * 60_000;

async function main(): Promise<void> {
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
  try {
    ceiling = await httpCeiling(futureTaskBody);
    console.log(
      `reference, same load against a bare node:http server with a constant answer: ` +
        `GET ${Math.round(ceiling.getPerSec)}/s (${ceiling.getCpuUs.toFixed(0)} us CPU each), POST ${Math.round(ceiling.postPerSec)}/s (${ceiling.postCpuUs.toFixed(0)} us CPU each)`,
    );
  } catch (error) {
    console.log(`reference server: not measured (${(error as Error).message})`);
  }

  const results: FigureResult[] = [];
  for (const figure of figures) {
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

await main();
