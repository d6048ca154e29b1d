/**
 * Figure 9: what where-and-how costs at the start of a run. The same script (print the wall
 * clock) runs one task at a time, plain, under resource limits (rlimits and the /proc
 * watch), and in the bubblewrap sandbox; lateness is the script's clock minus scheduledAt,
 * so it includes everything between the due instant and the script's first command.
 */
import { Api, type Submission } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import type { FigureResult } from '../report.js';
import { clockScript, parseScriptClock } from '../script-clock.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import { waitUntilFinished } from './wait.js';

const tasksPerKind = 60;
const delay = '100ms';
const perTaskDeadlineMs = 10_000;

const kinds: Array<{ name: string; settings: Record<string, unknown> }> = [
  { name: 'plain', settings: {} },
  { name: 'limits (cpu, memory, processes, open files, output)', settings: { limits: { cpu: '60s', memory: '512MiB', processes: 64, openFiles: 256, output: '10MiB' } } },
  { name: 'sandbox', settings: { sandbox: true } },
];

export async function executionOverhead(): Promise<FigureResult> {
  const daemon = await startBenchDaemon({ label: 'execution' });
  try {
    const api = new Api(daemon.url);
    const results: Array<{ name: string; summary: Summary; failed: number }> = [];
    for (const [index, kind] of kinds.entries()) {
      const late: number[] = [];
      let failed = 0;
      for (let n = 0; n < tasksPerKind; n++) {
        const id = `kind${index}-${n}`;
        await api.submit({ id, type: 'delay', time: delay, script: clockScript, ...kind.settings } as Submission);
        const run = (await waitUntilFinished(api, id, perTaskDeadlineMs)).results[0];
        const clock = run ? parseScriptClock(run.stdout) : Number.NaN;
        if (!run || Number.isNaN(clock)) failed++;
        else late.push(clock - Date.parse(run.scheduledAt));
      }
      results.push({ name: kind.name, summary: summarize(late), failed });
    }
    const [plain, limited, sandboxed] = results as [typeof results[0], typeof results[0], typeof results[0]];
    return {
      figure: '9. start of a run: plain, with limits, sandboxed',
      measured: `p50 ${plain.summary.p50.toFixed(1)} / ${limited.summary.p50.toFixed(1)} / ${sandboxed.summary.p50.toFixed(1)} ms`,
      target: 'none set',
      met: results.every((result) => result.failed === 0),
      details: [
        `${tasksPerKind} delay tasks of ${delay} per kind, one at a time; lateness = script clock - scheduledAt`,
        ...results.map((result) => `${result.name}: ${formatSummary(result.summary)}${result.failed > 0 ? `; ${result.failed} runs printed no clock` : ''}`),
        'a sandboxed run is spawned ahead and held like any other, but bwrap builds its namespaces and mounts after the release',
      ],
    };
  } finally {
    await daemon.stop();
  }
}
