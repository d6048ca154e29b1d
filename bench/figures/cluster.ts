/**
 * The PostgreSQL cluster figures (issue 12): the same three measurements against one SQLite
 * daemon and against N daemons ("nodes") sharing one PostgreSQL schema.
 *
 * - submits/s: new tasks (due far ahead) POSTed for a few seconds, the connections spread
 *   evenly over the nodes; each is committed before its 201.
 * - fires/s: `burstCount` `at` tasks due at one instant T, submitted round robin over the
 *   nodes; the count divided by the time from T until the last script started, by the
 *   scripts' own clocks.
 * - claim-to-start latency: each script's clock minus its run's scheduledAt (T), p50/p99:
 *   on PostgreSQL this includes finding the fire in the store, claiming it there and
 *   spawning the script.
 */
import { Api, mapLimit, sleep, type RunJson } from '../api.js';
import { startBenchDaemon, type BenchDaemon } from '../daemon-process.js';
import { cpuMeter, machineCpuMeter } from '../proc-stats.js';
import { freshSchema } from '../postgres-schema.js';
import { clockScript, parseScriptClock, wallClockMs } from '../script-clock.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import { runWrk, wrkConnections, wrkMissing, type WrkResult } from '../wrk.js';
import { submitLeadMs, waitForNoneDue } from './fire-precision.js';

export const burstCount = 2000;
/** Least time the common instant is set ahead (more when the probe says submits are slow). */
const burstLeadMs = 3000;
const submitConcurrency = 16;
/** Connections in all, as figure 5 uses against one daemon, shared out among the nodes. */
const totalConnections = wrkConnections;
const warmupSec = 2;
const measureSec = 8;

/** One store set-up to measure: SQLite with one daemon, or PostgreSQL with `nodes` daemons. */
export interface ClusterSetup {
  label: string;
  /** undefined: SQLite in each daemon's data directory (then nodes is 1). */
  serverUrl?: string;
  nodes: number;
}

/** What one set-up measured. */
export interface ClusterFigures {
  setup: ClusterSetup;
  /** NaN when wrk is missing. */
  submitsPerSec: number;
  firesPerSec: number;
  /** Script clock minus scheduledAt, ms. */
  latency: Summary;
  details: string[];
}

export async function measureSetup(setup: ClusterSetup): Promise<ClusterFigures> {
  const schema = setup.serverUrl === undefined ? undefined : await freshSchema(setup.serverUrl);
  const daemons: BenchDaemon[] = [];
  try {
    const storeArgs = schema ? ['--store', schema.storeUrl] : [];
    // One after another: the first migrates the fresh schema, the others find it done.
    for (let index = 0; index < setup.nodes; index++) {
      daemons.push(await startBenchDaemon({ label: `${setup.label}-${index + 1}`, extraArgs: storeArgs }));
    }
    const apis = daemons.map((daemon) => new Api(daemon.url));
    // The burst first, on an empty store; the submits after it add tasks nothing will fire.
    const burst = await measureBurst(apis);
    const submits = await measureSubmits(daemons);
    return {
      setup,
      submitsPerSec: submits.perSec,
      firesPerSec: burst.firesPerSec,
      latency: burst.latency,
      details: [...burst.details, ...submits.details],
    };
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await schema?.drop();
  }
}

async function measureBurst(apis: Api[]): Promise<{ firesPerSec: number; latency: Summary; details: string[] }> {
  const apiFor = (index: number) => apis[index % apis.length]!;
  const ids = Array.from({ length: burstCount }, (_, index) => `cluster-burst-${index}`);
  const leadMs = await submitLeadMs(apis[0]!, burstCount, burstLeadMs);
  const instant = Math.ceil(wallClockMs() + leadMs);
  const time = new Date(instant).toISOString();
  let leastLeadMs = Infinity;
  await mapLimit(ids, submitConcurrency, async (id, index) => {
    leastLeadMs = Math.min(leastLeadMs, Math.round(instant - wallClockMs()));
    await apiFor(index).submit({ id, type: 'at', time, script: clockScript });
  });
  if (leastLeadMs <= 0) throw new Error(`the submits were still landing ${-leastLeadMs} ms after the instant; the fires/s figure would be wrong`);

  // Stay off the daemons while they fire, then wait for every run to be recorded (the
  // store is shared: any node sees every task).
  await sleep(Math.max(0, instant - wallClockMs()) + 1000);
  await waitForNoneDue(apis[0]!);

  const tasks = await mapLimit(ids, submitConcurrency, (id, index) => apiFor(index).get(id));
  const firstRuns = tasks.map((task) => task.results[0]).filter((run): run is RunJson => run !== undefined);
  const clocks = firstRuns.map((run) => parseScriptClock(run.stdout));
  const fromInstant = clocks.map((clock) => clock - instant).filter((value) => !Number.isNaN(value));
  const latency = summarize(firstRuns.map((run, index) => clocks[index]! - Date.parse(run.scheduledAt)).filter((value) => !Number.isNaN(value)));
  const engine = summarize(
    firstRuns.filter((run) => run.startedAt !== null).map((run) => Date.parse(run.startedAt!) - Date.parse(run.scheduledAt)),
  );
  const lastScriptMs = Math.max(...fromInstant);
  const firesPerSec = (fromInstant.length / lastScriptMs) * 1000;
  const offInstant = firstRuns.filter((run) => Date.parse(run.scheduledAt) !== instant).length;
  const notRun = firstRuns.filter((run) => run.outcome !== 'succeeded').length;
  // An `at` task fires once: more than one run is a fire executed twice.
  const twice = tasks.filter((task) => task.results.length > 1).length;
  const perNode = new Map<string, number>();
  for (const run of firstRuns) perNode.set(run.node ?? 'the daemon', (perNode.get(run.node ?? 'the daemon') ?? 0) + 1);
  return {
    firesPerSec,
    latency,
    details: [
      `${burstCount} at tasks due at one instant T, ${leadMs} ms ahead, submitted round robin over ${apis.length} node(s); submits left at least ${leastLeadMs} ms before T`,
      `${firstRuns.length} of ${burstCount} fires recorded, ${fromInstant.length} printed a clock; ${notRun} did not succeed; ${offInstant} with a scheduledAt other than T; ${twice} tasks with more than one run`,
      `runs per node: ${[...perNode.values()].sort((a, b) => b - a).join(', ')}`,
      `from T (script clocks): first script ${Math.min(...fromInstant).toFixed(0)} ms, last ${lastScriptMs.toFixed(0)} ms -> ${Math.round(firesPerSec)} fires/s`,
      `claim-to-start, script clock - scheduledAt: ${formatSummary(latency)}`,
      `  of which startedAt - scheduledAt (recorded start; ms resolution): ${formatSummary(engine)}`,
    ],
  };
}

async function measureSubmits(daemons: BenchDaemon[]): Promise<{ perSec: number; details: string[] }> {
  const missing = wrkMissing();
  if (missing) return { perSec: Number.NaN, details: [`submits/s not measured: ${missing}`] };
  // The connections shared out as evenly as they go: 32 over 3 nodes is 11, 11, 10.
  const shares = daemons.map((_, index) => Math.floor(totalConnections / daemons.length) + (index < totalConnections % daemons.length ? 1 : 0));
  const load = (phase: string, durationSec: number) =>
    Promise.all(
      daemons.map((daemon, index) =>
        runWrk({ url: daemon.url, request: { method: 'POST', idPrefix: `${phase}-node${index + 1}` }, connections: shares[index]!, durationSec }),
      ),
    );
  await load('warm', warmupSec);
  const daemonCpu = daemons.map((daemon) => cpuMeter(daemon.pid));
  const machineCpu = machineCpuMeter();
  const results = await load('measure', measureSec);
  const daemonCores = daemonCpu.map((meter) => meter());
  const machineCores = machineCpu();
  const perSec = results.reduce((sum, result) => sum + result.reqPerSec, 0);
  const sum = (field: 'non2xx' | 'socketErrors') => results.reduce((total, result: WrkResult) => total + result[field], 0);
  const totalDaemonCores = daemonCores.reduce((total, cores) => total + cores, 0);
  return {
    perSec,
    details: [
      `POST /api/tasks (wrk), a new task each, ${measureSec} s after ${warmupSec} s warm-up, connections per node ${shares.join(', ')}: ${Math.round(perSec)}/s ` +
        `(per node ${results.map((result) => Math.round(result.reqPerSec)).join(', ')})`,
      `latency p99 per node ${results.map((result) => result.latencyP99Ms.toFixed(1)).join(', ')} ms; non-2xx ${sum('non2xx')}, socket errors ${sum('socketErrors')}`,
      `CPU in cores: daemons ${daemonCores.map((cores) => cores.toFixed(2)).join(' + ')} = ${totalDaemonCores.toFixed(2)}, ` +
        `${(1e6 * totalDaemonCores / perSec).toFixed(0)} us of daemon CPU per submit; machine busy ${machineCores.toFixed(2)} (load generator and the database included)`,
    ],
  };
}
