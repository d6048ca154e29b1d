/** Figure 2: GET /api/tasks/{id} per second, on one task that has one result. */
import { Api } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import type { FigureResult } from '../report.js';
import type { Ceiling } from './http-ceiling.js';
import { measureThroughput } from './throughput.js';
import { waitUntilFinished } from './wait.js';

export async function getThroughput(ceiling?: Ceiling): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'get' });
  try {
    const api = new Api(daemon.url);
    await api.submit({ id: 'read-me', type: 'delay', time: '1ms', script: 'echo hello' });
    const task = await waitUntilFinished(api, 'read-me', 10_000);
    return await measureThroughput({
      figure: '2. GET /api/tasks/{id} per s',
      target: 50_000,
      daemonPid: daemon.pid,
      load: { url: daemon.url, method: 'GET', path: '/api/tasks/read-me' },
      what: `GET of one task with ${task.results.length} result(s)`,
      ...(ceiling ? { reference: { perSec: ceiling.getPerSec, cpuUs: ceiling.getCpuUs } } : {}),
    });
  } finally {
    await daemon.stop();
  }
}
