/**
 * What figures 1 and 2 share: warm up, measure requests per second under a fixed load while
 * splitting CPU between the daemon and the rest, and report it beside the bare-server
 * reference for the same method.
 */
import { runLoad, type LoadOptions } from '../load.js';
import type { FigureResult } from '../report.js';
import { cpuPerRequestUs, cpuSplit } from './cpu.js';

const connections = 50;
const warmupSec = 2;
const measureSec = 8;

/** One throughput figure. */
export interface ThroughputFigure {
  figure: string;
  /** Requests per second to reach. */
  target: number;
  daemonPid: number;
  load: Omit<LoadOptions, 'connections' | 'durationSec' | 'amount'>;
  /** What was loaded, e.g. "POST /api/tasks", for the first detail line. */
  what: string;
  /** The bare node:http server's figure for the same method, if it was measured. */
  reference?: { perSec: number; cpuUs: number };
}

export async function measureThroughput(spec: ThroughputFigure): Promise<FigureResult> {
  const load = { ...spec.load, connections };
  await runLoad({ ...load, durationSec: warmupSec });
  const cpu = cpuSplit(spec.daemonPid);
  const result = await runLoad({ ...load, durationSec: measureSec });
  const split = cpu();
  const cpuUs = cpuPerRequestUs(split.daemon, result.reqPerSec);
  const { reference } = spec;
  return {
    figure: spec.figure,
    measured: `${Math.round(result.reqPerSec)}/s, non-2xx ${result.non2xx}`,
    target: `>= ${spec.target}/s`,
    met: result.reqPerSec >= spec.target && result.non2xx === 0 && result.errors === 0,
    details: [
      `${spec.what}: ${result.requests} requests in ${result.durationSec.toFixed(1)} s over ${connections} connections (after ${warmupSec} s warm-up)`,
      `latency p50 ${result.latencyP50} ms, p99 ${result.latencyP99} ms, max ${result.latencyMax} ms`,
      `non-2xx ${result.non2xx}, connection errors ${result.errors}, timeouts ${result.timeouts}`,
      split.line,
      `daemon CPU per request: ${cpuUs.toFixed(0)} us, so one core would serve at most ${Math.round(1e6 / cpuUs)}/s`,
      ...(reference
        ? [`for scale: a bare node:http server with a constant answer: ${Math.round(reference.perSec)}/s under the same load, ${reference.cpuUs.toFixed(0)} us CPU per request`]
        : []),
    ],
  };
}
