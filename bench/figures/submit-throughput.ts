/** Figure 1: submits per second, each committed to SQLite before it is acknowledged. */
import { startBenchDaemon } from '../daemon-process.js';
import type { FigureResult } from '../report.js';
import type { Ceiling } from './http-ceiling.js';
import { measureThroughput } from './throughput.js';

/** Unique id per request (autocannon fills [<id>]); due far in the future so nothing runs. */
export const futureTaskBody = JSON.stringify({ id: 'b-[<id>]', type: 'delay', time: '1000h', script: 'echo never' });

export async function submitThroughput(ceiling?: Ceiling): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'submit' });
  try {
    return await measureThroughput({
      figure: '1. submits/s (committed before ack)',
      target: 20_000,
      daemonPid: daemon.pid,
      load: { url: daemon.url, method: 'POST', path: '/api/tasks', body: futureTaskBody },
      what: 'POST /api/tasks, a new task each',
      ...(ceiling ? { reference: { perSec: ceiling.postPerSec, cpuUs: ceiling.postCpuUs } } : {}),
    });
  } finally {
    await daemon.stop();
  }
}
