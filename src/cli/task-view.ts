/** The human view of a task for `scheduler get`, and of what changed for `get -watch=true`. */
import type { RunJson, TaskJson } from '../protocol/schemas.js';
import { formatDuration } from '../core/duration.js';
import { localTime } from './render.js';

/** The whole task: its fields, then every retained result. */
export function describeTask(task: TaskJson): string {
  const lines = [
    `id:           ${task.id}`,
    `type:         ${task.type}`,
    `time:         ${task.time}`,
    `script:       ${indentAfterFirst(task.script, 14)}`,
    ...(task.timeout === null ? [] : [`timeout:      ${task.timeout} per run`]),
    `status:       ${task.status}${task.stopRequested ? ' (stop requested: no run after the current one)' : ''}`,
    `last change:  ${localTime(task.lastStatusUpdated)}`,
    `next run:     ${localTime(task.nextRunAt)}`,
    `version:      ${task.version}`,
  ];
  if (task.results.length === 0) lines.push('results:      none yet');
  else {
    lines.push(`results:      ${task.results.length} retained, oldest first`);
    for (const run of task.results) lines.push(...describeRun(run));
  }
  return lines.join('\n');
}

/** One result: a summary line, then its output. */
export function describeRun(run: RunJson): string[] {
  const lines = [`  run ${run.run}: ${runSummary(run)}`];
  if (run.error) lines.push(`    reason: ${run.error}`);
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = run[stream];
    const truncated = run[`${stream}Truncated`];
    if (text.length === 0 && !truncated) continue;
    lines.push(`    ${stream}:${truncated ? ` (first ${run.outputCap} of ${run[`${stream}Bytes`]} bytes kept)` : ''}`);
    for (const line of text.replace(/\n$/, '').split('\n')) lines.push(`      ${line}`);
  }
  return lines;
}

function runSummary(run: RunJson): string {
  const parts = [run.outcome];
  if (run.exitCode !== null) parts.push(`exit ${run.exitCode}`);
  if (run.signal !== null) parts.push(`signal ${run.signal}`);
  parts.push(`scheduled ${localTime(run.scheduledAt)}`);
  if (run.startedAt !== null) parts.push(`started ${localTime(run.startedAt)}`);
  if (run.startedAt !== null && run.finishedAt !== null) {
    parts.push(`took ${formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))}`);
  }
  return parts.join(', ');
}

/** What changed between two versions of a task, as lines for a watcher. */
export function describeChange(before: TaskJson, after: TaskJson): string[] {
  const stamp = localTime(new Date().toISOString());
  const known = new Map(before.results.map((run) => [run.run, run]));
  const changedRuns = after.results.filter((run) => known.get(run.run)?.outcome !== run.outcome);
  // In the order things happened: a run ends, the status moves on, the next run starts.
  const ended = changedRuns
    .filter((run) => run.outcome !== 'running')
    .flatMap((run) => describeRun(run).map((line, index) => (index === 0 ? `${stamp}  ${line.trim()}` : line)));
  const started = changedRuns.filter((run) => run.outcome === 'running').map((run) => `${stamp}  run ${run.run} started`);
  const lines = [...ended];
  if (before.status !== after.status) lines.push(`${stamp}  status ${before.status} -> ${after.status}`);
  if (!before.stopRequested && after.stopRequested) lines.push(`${stamp}  stop requested: the current run goes on, no later run`);
  lines.push(...started);
  if (before.nextRunAt !== after.nextRunAt && after.nextRunAt !== null) lines.push(`${stamp}  next run at ${localTime(after.nextRunAt)}`);
  return lines;
}

function indentAfterFirst(text: string, spaces: number): string {
  return text.replace(/\n/g, `\n${' '.repeat(spaces)}`);
}
