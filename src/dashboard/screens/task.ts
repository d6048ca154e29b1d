/**
 * One task: what it is, when it fires next, its recent runs with a chart of their durations,
 * and its commands. The screen follows the task's live events and reloads when it changes.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type TaskAction } from '../api.js';
import { countdown, formatDuration, formatTime, runDuration, scheduleInWords } from '../format.js';
import { ErrorNote, html, mayDo, navigate, OutcomeLabel, refusedBecause, runHref, StatusBadge, useNow, useShared } from '../ui.js';
import type { RunView, TaskView } from '../views.js';

const actions: Array<[TaskAction, string, string]> = [
  ['stop', 'Stop', 'no run starts after this; a run in progress finishes'],
  ['kill', 'Kill', 'ends the run in progress (its whole process group); the schedule goes on'],
  ['pause', 'Pause', 'a recurring task fires no more until resumed'],
  ['resume', 'Resume', 'a paused task fires again'],
  ['run', 'Run now', 'one run now, besides the schedule'],
  ['delete', 'Delete', 'stops the task and removes it with its results'],
];

const finalStatuses = new Set(['Executed', 'Stopped']);

/**
 * Why a command cannot apply to the task as it is now (undefined: it may). Stop, run now and
 * delete stay pressable: the daemon's answer, and the stop rules, say why one is refused.
 */
function notNow(action: TaskAction, task: TaskView): string | undefined {
  const running = task.status === 'Executing';
  switch (action) {
    case 'kill':
      return running ? undefined : 'no run is executing';
    case 'pause':
      if (task.type !== 'cron') return 'only a recurring task pauses';
      if (task.status === 'Paused' || task.pauseRequested) return 'already paused';
      return finalStatuses.has(task.status) ? `the task is ${task.status}` : undefined;
    case 'resume':
      return task.status === 'Paused' || task.pauseRequested ? undefined : 'the task is not paused';
    default:
      return undefined;
  }
}

/** The spec's stop rules, said when the daemon refuses a stop. */
function stopRules(task: TaskView): string {
  return task.type === 'cron'
    ? 'A recurring task can be stopped at any time: a run in progress is not interrupted, its result is kept, and no later run happens.'
    : 'A one-off task can be stopped only before its run starts: once the run has started (or finished), the stop is refused, the run goes on, and the task ends Executed.';
}

export function TaskScreen({ id }: { id: string }) {
  const { session, zone } = useShared();
  const now = useNow();
  const [task, setTask] = useState<TaskView | null>(null);
  const [runs, setRuns] = useState<RunView[]>([]);
  const [next, setNext] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [refusal, setRefusal] = useState<{ message: string; why?: string } | null>(null);
  const [warning, setWarning] = useState<string | null>(null);

  const load = async () => {
    try {
      const [loaded, recent, fires] = await Promise.all([api.getTask(id), api.listRuns(id, 50), api.nextFires(id, 10)]);
      setTask(loaded);
      setRuns(recent.runs);
      setNext(fires.nextRuns);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  };
  useEffect(() => {
    void load();
    // Every event of the task (a status change, a run starting or ending) reloads the screen,
    // at most once per animation frame's worth of burst.
    const events = api.events(id);
    let pending: number | undefined;
    const reload = () => {
      if (pending === undefined) pending = window.setTimeout(() => { pending = undefined; void load(); }, 100);
    };
    for (const name of ['status', 'run-started', 'run-finished', 'run-skipped']) events.addEventListener(name, reload);
    events.addEventListener('deleted', () => setError(new Error(`the task ${id} was deleted`)));
    return () => {
      events.close();
      clearTimeout(pending);
    };
  }, [id]);

  const act = async (action: TaskAction) => {
    setRefusal(null);
    setWarning(null);
    if (action === 'delete' && !confirm(`Delete ${id} and its results?`)) return;
    try {
      const answer = await api.act(id, action);
      if (action === 'delete') return navigate('#/tasks');
      if (answer && 'warning' in answer && answer.warning) setWarning(answer.warning);
      await load();
    } catch (failure) {
      const message = (failure as Error).message;
      const why = failure instanceof ApiError && failure.code === 'stop_refused' && task ? stopRules(task) : undefined;
      setRefusal({ message, why });
    }
  };

  if (!task) return html`<section><h1>${id}</h1><${ErrorNote} error=${error} />${error ? null : html`<p class="muted">Loading…</p>`}</section>`;
  return html`<section>
    <p><a href="#/tasks">← Tasks</a></p>
    <h1>${task.id} <${StatusBadge} status=${task.status} /></h1>
    <${ErrorNote} error=${error} />
    <div class="actions" role="group" aria-label="Commands">
      ${actions.map(([action, label, what]) => {
        const allowed = mayDo(session.role, action);
        const why = notNow(action, task);
        return html`<button type="button" class=${action === 'delete' || action === 'kill' ? 'danger' : ''} disabled=${!allowed || why !== undefined}
          title=${!allowed ? refusedBecause(session.role, label.toLowerCase()) : why ? `${label}: ${why}` : what} onClick=${() => act(action)}>${label}</button>`;
      })}
    </div>
    ${refusal ? html`<div class="error" role="alert"><p>${refusal.message}</p>${refusal.why ? html`<p>${refusal.why}</p>` : null}</div>` : null}
    ${warning ? html`<p class="notice" role="status">${warning}</p>` : null}
    <div class="columns">
      <dl class="facts">
        <dt>Schedule</dt><dd>${scheduleInWords(task, zone)}</dd>
        <dt>Next run</dt><dd>${task.nextRunAt ? html`${formatTime(task.nextRunAt, zone)} <span class="muted">(${countdown(task.nextRunAt, now)})</span>` : '—'}</dd>
        <dt>Type</dt><dd>${task.type} <code>${task.time}</code></dd>
        <dt>Language</dt><dd>${task.lang}</dd>
        <dt>Queue</dt><dd>${task.queue}</dd>
        <dt>Overlap</dt><dd>${task.overlap}</dd>
        <dt>Timeout</dt><dd>${task.timeout ?? 'none'}</dd>
        <dt>Retries</dt><dd>${task.retries}</dd>
        <dt>Created</dt><dd>${formatTime(task.createdAt, zone)}</dd>
        ${task.stopRequested ? html`<dt>Stop</dt><dd>requested: ends Stopped when the run finishes</dd>` : null}
        ${task.pauseRequested ? html`<dt>Pause</dt><dd>requested: Paused when the run finishes</dd>` : null}
      </dl>
      <div>
        <h2>Next ${next.length} fire times</h2>
        ${next.length === 0 ? html`<p class="muted">None: the task will not fire again.</p>` : html`<ol class="fires">${next.map((at) => html`<li>${formatTime(at, zone)}</li>`)}</ol>`}
      </div>
    </div>
    <h2>Script</h2>
    <pre class="script">${task.script}</pre>
    <h2>Recent runs</h2>
    <${DurationChart} runs=${runs} now=${now} />
    <div class="scroll">
      <table>
        <thead><tr><th>Run</th><th>Outcome</th><th>Started</th><th>Duration</th><th>Exit</th></tr></thead>
        <tbody>${runs.map((run) => html`<tr key=${run.run}>
          <td><a href=${runHref(task.id, run.run)}>#${run.run}</a>${run.attempt > 1 ? html` <span class="muted">(attempt ${run.attempt})</span>` : null}</td>
          <td><${OutcomeLabel} outcome=${run.waiting ? 'waiting' : run.outcome} /></td>
          <td>${formatTime(run.startedAt, zone)}</td>
          <td>${durationText(run, now)}</td>
          <td>${exitText(run)}</td>
        </tr>`)}</tbody>
      </table>
    </div>
    ${runs.length === 0 ? html`<p class="muted">No runs yet.</p>` : null}
  </section>`;
}

export const durationText = (run: RunView, now: number): string => {
  const ms = runDuration(run, now);
  return ms === undefined ? '—' : formatDuration(ms);
};
export const exitText = (run: RunView): string => (run.signal ? `signal ${run.signal}` : run.exitCode === null ? '—' : String(run.exitCode));

/** The durations of the recent runs as bars, oldest on the left, coloured by outcome. */
function DurationChart({ runs, now }: { runs: RunView[]; now: number }) {
  const shown = runs.filter((run) => run.startedAt).slice(0, 50).reverse();
  if (shown.length < 2) return null;
  const durations = shown.map((run) => runDuration(run, now) ?? 0);
  const longest = Math.max(...durations, 1);
  const width = 600;
  const height = 120;
  const bar = width / shown.length;
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${`Durations of the last ${shown.length} runs, longest ${formatDuration(longest)}`}>
      ${shown.map((run, i) => {
        const h = Math.max(2, (durations[i]! / longest) * (height - 10));
        return html`<rect class=${`bar outcome-${run.outcome}`} x=${i * bar + 1} y=${height - h} width=${Math.max(1, bar - 2)} height=${h}>
          <title>#${run.run}: ${formatDuration(durations[i]!)}, ${run.outcome}</title>
        </rect>`;
      })}
    </svg>
    <figcaption class="muted">Run durations, oldest to newest; the longest took ${formatDuration(longest)}.</figcaption>
  </figure>`;
}
