/** Figure 4: GET /api/tasks/{id} per second (one task with one result), against bare Fastify sending the same bytes. */
import { Api } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { detail, type BenchOptions, type FigureReport } from '../report.js';
import { compareThroughput, fetchAnswers } from './http-throughput.js';
import { waitUntilFinished } from './wait.js';

export async function getThroughput(options: BenchOptions): Promise<FigureReport> {
  const daemon = await startBenchDaemon({ label: 'get' });
  try {
    const api = new Api(daemon.url);
    await api.submit({ id: 'read-me', type: 'delay', time: '1ms', script: 'echo hello' });
    await waitUntilFinished(api, 'read-me', 10_000);
    const answers = await fetchAnswers(daemon.url, 'read-me');
    detail(`GET /api/tasks/read-me: ${Buffer.byteLength(answers.get.body)} bytes, ${answers.get.contentType}; the reference sends these bytes as a constant`);
    const row = await compareThroughput(
      { figure: '4. GET /api/tasks/{id} per second', daemon, answers, request: { method: 'GET', path: '/api/tasks/read-me' }, minRatio: 0.7 },
      options,
    );
    return { rows: [row] };
  } finally {
    await daemon.stop();
  }
}
