/** Figure 1: submits per second, each committed to SQLite before it is acknowledged. */
import { startBenchDaemon } from '../daemon-process.js';
import { runLoad } from '../load.js';
import type { FigureResult } from '../report.js';
import { cpuPerRequestUs, cpuSplit } from './cpu.js';
import type { Ceiling } from './http-ceiling.js';

const target = 20_000;
const connections = 50;
const warmupSec = 2;
const measureSec = 8;

/** Unique id per request (autocannon fills [<id>]); due far in the future so nothing runs. */
export const futureTaskBody = JSON.stringify({ id: 'b-[<id>]', type: 'delay', time: '1000h', script: 'echo never' });

export async function submitThroughput(ceiling?: Ceiling): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'submit' });
  try {
    const load = { url: daemon.url, method: 'POST' as const, path: '/api/tasks', body: futureTaskBody, connections };
    await runLoad({ ...load, durationSec: warmupSec });
    const cpu = cpuSplit(daemon.pid);
    const result = await runLoad({ ...load, durationSec: measureSec });
    const split = cpu();
    const cpuUs = cpuPerRequestUs(split.daemon, result.reqPerSec);
    return {
      figure: '1. submits/s (committed before ack)',
      measured: `${Math.round(result.reqPerSec)}/s, non-2xx ${result.non2xx}`,
      target: `>= ${target}/s`,
      met: result.reqPerSec >= target && result.non2xx === 0 && result.errors === 0,
      details: [
        `${result.requests} POST /api/tasks in ${result.durationSec.toFixed(1)} s over ${connections} connections (after ${warmupSec} s warm-up)`,
        `latency p50 ${result.latencyP50} ms, p99 ${result.latencyP99} ms, max ${result.latencyMax} ms`,
        `non-2xx ${result.non2xx}, connection errors ${result.errors}, timeouts ${result.timeouts}`,
        split.line,
        `daemon CPU per request: ${cpuUs.toFixed(0)} us, so one core would serve at most ${Math.round(1e6 / cpuUs)}/s`,
        ...(ceiling
          ? [`for scale: a bare node:http server with a constant answer: ${Math.round(ceiling.postPerSec)}/s under the same load, ${ceiling.postCpuUs.toFixed(0)} us CPU per request`]
          : []),
      ],
    };
  } finally {
    await daemon.stop();
  }
}
