/** Figure 2: GET /api/tasks/{id} per second, on one task that has one result. */
import { Api } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { runLoad } from '../load.js';
import type { FigureResult } from '../report.js';
import { cpuPerRequestUs, cpuSplit } from './cpu.js';
import type { Ceiling } from './http-ceiling.js';
import { waitUntilFinished } from './wait.js';

const target = 50_000;
const connections = 50;
const warmupSec = 2;
const measureSec = 8;

export async function getThroughput(ceiling?: Ceiling): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'get' });
  try {
    const api = new Api(daemon.url);
    await api.submit({ id: 'read-me', type: 'delay', time: '1ms', script: 'echo hello' });
    const task = await waitUntilFinished(api, 'read-me', 10_000);
    const load = { url: daemon.url, method: 'GET' as const, path: '/api/tasks/read-me', connections };
    await runLoad({ ...load, durationSec: warmupSec });
    const cpu = cpuSplit(daemon.pid);
    const result = await runLoad({ ...load, durationSec: measureSec });
    const split = cpu();
    const cpuUs = cpuPerRequestUs(split.daemon, result.reqPerSec);
    return {
      figure: '2. GET /api/tasks/{id} per s',
      measured: `${Math.round(result.reqPerSec)}/s, non-2xx ${result.non2xx}`,
      target: `>= ${target}/s`,
      met: result.reqPerSec >= target && result.non2xx === 0 && result.errors === 0,
      details: [
        `one task with ${task.results.length} result(s); ${result.requests} GETs in ${result.durationSec.toFixed(1)} s over ${connections} connections (after ${warmupSec} s warm-up)`,
        `latency p50 ${result.latencyP50} ms, p99 ${result.latencyP99} ms, max ${result.latencyMax} ms`,
        `non-2xx ${result.non2xx}, connection errors ${result.errors}, timeouts ${result.timeouts}`,
        split.line,
        `daemon CPU per request: ${cpuUs.toFixed(0)} us, so one core would serve at most ${Math.round(1e6 / cpuUs)}/s`,
        ...(ceiling
          ? [`for scale: a bare node:http server with a constant answer: ${Math.round(ceiling.getPerSec)}/s under the same load, ${ceiling.getCpuUs.toFixed(0)} us CPU per request`]
          : []),
      ],
    };
  } finally {
    await daemon.stop();
  }
}
