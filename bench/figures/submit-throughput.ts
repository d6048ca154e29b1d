/**
 * Figure 5: durable submits per second (each committed before its 201), against bare
 * Fastify answering the same POST with the daemon's answer and storing nothing.
 */
import { startBenchDaemon } from '../daemon-process.js';
import { detail, type BenchOptions, type FigureReport } from '../report.js';
import { compareThroughput, fetchAnswers } from './http-throughput.js';

export async function submitThroughput(options: BenchOptions): Promise<FigureReport> {
  const daemon = await startBenchDaemon({ label: 'submit' });
  try {
    const answers = await fetchAnswers(daemon.url, 'reference-template');
    detail('POST /api/tasks of a new task due in 1,000 hours (bench/submit.lua: a fresh id per request)');
    const row = await compareThroughput(
      { figure: '5. durable submits per second', daemon, answers, request: { method: 'POST', idPrefix: 'submit' }, minRatio: 0.5 },
      options,
    );
    return { rows: [row] };
  } finally {
    await daemon.stop();
  }
}
