/** The human view of a task for `scheduler get`, and of what changed for `get -watch=true`. */
import type { RunJson, TaskJson } from '../protocol/schemas.js';
import { formatByteSize, formatDuration } from '../protocol/formats.js';
import type { NamedEvent } from '../protocol/events.js';
import { localTime } from './render.js';

/** The whole task: its fields, then every retained result. */
export function describeTask(task: TaskJson): string {
  const lines = [
    `id:           ${task.id}`,
    `type:         ${task.type}`,
    `time:         ${task.time}`,
    `script:       ${indentAfterFirst(task.script, 14)}`,
    `lang:         ${task.lang}`,
    ...(task.timeout === null ? [] : [`timeout:      ${task.timeout} per run`]),
    ...executionLines(task),
    `status:       ${task.status}${task.stopRequested ? ' (stop requested: no run after the current one)' : task.pauseRequested ? ' (pause requested: Paused after the current run)' : ''}`,
    `last change:  ${localTime(task.lastStatusUpdated)}`,
    `next run:     ${localTime(task.nextRunAt)}`,
    `version:      ${task.version}`,
  ];
  if (task.results.length === 0) lines.push('results:      none yet');
  else {
    lines.push(`results:      ${task.results.length} retained, oldest first`);
    // One line at a time: a run's output may have more lines than a call takes arguments.
    for (const run of task.results) for (const line of describeRun(run)) lines.push(line);
  }
  return lines.join('\n');
}

/** Where and how the runs execute, only where the task differs from the defaults. */
function executionLines(task: TaskJson): string[] {
  const lines: string[] = [];
  const names = Object.keys(task.env);
  if (names.length > 0) lines.push(`env:          ${names.join(', ')}`);
  if (task.cwd !== null) lines.push(`cwd:          ${task.cwd}`);
  if (task.user !== null) lines.push(`user:         ${task.user}`);
  if (task.queue !== 'default') lines.push(`queue:        ${task.queue}`);
  if (task.sandbox) lines.push(`sandbox:      yes, ${task.network ? 'with' : 'without'} network`);
  const limits = describeLimits(task.limits);
  if (limits !== '') lines.push(`limits:       ${limits}`);
  return lines;
}

/** "cpu 10s, memory 256MiB, ..." for the limits a task sets. */
function describeLimits(limits: TaskJson['limits']): string {
  const parts: string[] = [];
  if (limits.cpuSeconds !== null) parts.push(`cpu ${formatDuration(limits.cpuSeconds * 1000)}`);
  if (limits.memoryBytes !== null) parts.push(`memory ${formatByteSize(limits.memoryBytes)}`);
  if (limits.processes !== null) parts.push(`processes ${limits.processes}`);
  if (limits.openFiles !== null) parts.push(`open files ${limits.openFiles}`);
  if (limits.outputBytes !== null) parts.push(`output ${formatByteSize(limits.outputBytes)}`);
  return parts.join(', ');
}

/** One result: a summary line, then its output. */
export function describeRun(run: RunJson): string[] {
  const lines = [`  run ${run.run}: ${runSummary(run)}`];
  if (run.error) lines.push(`    reason: ${run.error}`);
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = run[stream];
    const dropped = run[`${stream}DroppedBytes`];
    if (text.length === 0 && dropped === 0) continue;
    lines.push(`    ${stream}:${dropped > 0 ? ` (head and tail kept, ${dropped} of ${run[`${stream}Bytes`]} bytes dropped)` : ''}`);
    const kept = Buffer.from(text);
    const droppedAt = run[`${stream}DroppedAt`];
    const parts = dropped > 0 ? [kept.subarray(0, droppedAt).toString(), `[${dropped} bytes dropped here]`, kept.subarray(droppedAt).toString()] : [text];
    for (const part of parts.filter((part) => part.length > 0)) {
      for (const line of part.replace(/\n$/, '').split('\n')) lines.push(`      ${line}`);
    }
  }
  return lines;
}

function runSummary(run: RunJson): string {
  const parts = [run.outcome];
  if (run.exitCode !== null) parts.push(`exit ${run.exitCode}`);
  if (run.signal !== null) parts.push(`signal ${run.signal}`);
  if (run.waiting) parts.push('waiting for a free slot');
  parts.push(`scheduled ${localTime(run.scheduledAt)}`);
  if (run.startedAt !== null) parts.push(`started ${localTime(run.startedAt)}`);
  if (run.startedAt !== null && run.finishedAt !== null) {
    parts.push(`took ${formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt))}`);
  }
  if (run.waitedMs !== null) parts.push(`waited ${formatDuration(run.waitedMs)} for a slot`);
  if (run.limit !== null) parts.push(`hit its ${run.limit.replace('_', ' ')} limit`);
  return parts.join(', ');
}

/** One event of a task's live stream, as a line for a watcher (output is printed as it is, elsewhere). */
export function describeEvent(event: Exclude<NamedEvent, { name: 'output' }>): string {
  return stamped(eventText(event));
}

/** A watcher's line: the local time now, then `text`. */
export function stamped(text: string): string {
  return `${localTime(new Date().toISOString())}  ${text}`;
}

function eventText(event: Exclude<NamedEvent, { name: 'output' }>): string {
  switch (event.name) {
    case 'status': {
      const { previousStatus, status, stopRequested, nextRunAt } = event.data;
      const parts = previousStatus === status ? [`status ${status}`] : [`status ${previousStatus} -> ${status}`];
      if (stopRequested) parts.push('stop requested: the current run goes on, no later run');
      else if (nextRunAt !== null) parts.push(`next run at ${localTime(nextRunAt)}`);
      return parts.join('; ');
    }
    case 'run-started':
      return event.data.waiting ? `run ${event.data.run} waits for a free slot` : `run ${event.data.run} started`;
    case 'run-skipped':
      return `run ${event.data.run} skipped: ${event.data.reason}`;
    case 'run-finished':
      return describeRunEnd(event.data);
    case 'pruned':
      return `(resumed the stream, but some events were missed: ${event.data.reason})`;
    case 'snapshot':
      return `status ${event.data.task.status}`;
    case 'deleted':
      return `task ${event.data.id} was deleted`;
  }
}

/** "run 3 failed, exit 1, ...": how a run ended, on one line. */
export function describeRunEnd(end: { run: number; outcome: string; exitCode: number | null; signal: string | null; error: string | null }): string {
  const { run, outcome, exitCode, signal, error } = end;
  const parts = [`run ${run} ${outcome}`];
  if (exitCode !== null) parts.push(`exit ${exitCode}`);
  if (signal !== null) parts.push(`signal ${signal}`);
  if (error !== null && outcome !== 'succeeded') parts.push(error);
  return parts.join(', ');
}

function indentAfterFirst(text: string, spaces: number): string {
  return text.replace(/\n/g, `\n${' '.repeat(spaces)}`);
}
