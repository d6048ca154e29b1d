/**
 * Figure 10 (no target): what where-and-how costs at the start of a run. The same script (print the wall
 * clock) runs one task at a time, plain, under resource limits (rlimits and the /proc
 * watch), and in the bubblewrap sandbox; lateness is the script's clock minus scheduledAt,
 * so it includes everything between the due instant and the script's first command.
 */
import { Api, type Submission } from '../api.js';
import { startBenchDaemon } from '../daemon-process.js';
import { detail, reportedRow, type BenchOptions, type FigureReport } from '../report.js';
import { clockScript, parseScriptClock } from '../script-clock.js';
import { formatSummary, summarize, type Summary } from '../stats.js';
import { waitUntilFinished } from './wait.js';

const delay = '100ms';
const perTaskDeadlineMs = 10_000;

const kinds: Array<{ name: string; settings: Record<string, unknown> }> = [
  { name: 'plain', settings: {} },
  { name: 'limits (cpu, memory, processes, open files, output)', settings: { limits: { cpu: '60s', memory: '512MiB', processes: 64, openFiles: 256, output: '10MiB' } } },
  { name: 'sandbox', settings: { sandbox: true } },
];

export async function executionOverhead(options: BenchOptions): Promise<FigureReport> {
  const tasksPerKind = options.quick ? 10 : 60;
  const daemon = await startBenchDaemon({ label: 'execution' });
  try {
    const api = new Api(daemon.url);
    const results: Array<{ name: string; summary: Summary; failed: number; refused?: string }> = [];
    for (const [index, kind] of kinds.entries()) {
      const late: number[] = [];
      let failed = 0;
      let refused: string | undefined;
      for (let n = 0; n < tasksPerKind && refused === undefined; n++) {
        const id = `kind${index}-${n}`;
        try {
          await api.submit({ id, type: 'delay', time: delay, script: clockScript, ...kind.settings } as Submission);
        } catch (error) {
          // e.g. no sandbox on this host: the other kinds are still measured.
          if (n > 0) throw error;
          refused = (error as Error).message;
          continue;
        }
        const run = (await waitUntilFinished(api, id, perTaskDeadlineMs)).results[0];
        const clock = run ? parseScriptClock(run.stdout) : Number.NaN;
        if (!run || Number.isNaN(clock)) failed++;
        else late.push(clock - Date.parse(run.scheduledAt));
      }
      results.push({ name: kind.name, summary: summarize(late), failed, ...(refused !== undefined ? { refused } : {}) });
    }
    const [plain, limited, sandboxed] = results as [typeof results[0], typeof results[0], typeof results[0]];
    const details = [
      `${tasksPerKind} delay tasks of ${delay} per kind, one at a time; lateness = script clock - scheduledAt`,
      ...results.map((result) =>
        result.refused !== undefined ? `${result.name}: not measured, the daemon refused it: ${result.refused}` : `${result.name}: ${formatSummary(result.summary)}${result.failed > 0 ? `; ${result.failed} runs printed no clock` : ''}`,
      ),
      'a sandboxed run is spawned ahead and held like any other, but bwrap builds its namespaces and mounts after the release',
    ];
    for (const line of details) detail(line);
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    const p50 = (result: (typeof results)[number]) => (result.refused !== undefined ? 'n/a' : result.summary.p50.toFixed(1));
    const ours = `${p50(plain)} / ${p50(limited)} / ${p50(sandboxed)} ms` + (failed > 0 ? ` (${failed} runs printed no clock)` : '');
    return { rows: [reportedRow('10. start of a run: plain / limits / sandbox, p50', ours)] };
  } finally {
    await daemon.stop();
  }
}
