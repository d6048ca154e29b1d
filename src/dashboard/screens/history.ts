/** History: runs across every task, newest first, filtered by outcome and by time. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatTime } from '../format.js';
import { ErrorNote, html, OutcomeLabel, Pager, runHref, taskHref, useCursorPages, useNow, usePolling, useShared } from '../ui.js';
import { runOutcomes, type HistoryPage } from '../views.js';
import { durationText, exitText } from './task.js';

const pageSize = 50;

/** A datetime-local input's value as an RFC 3339 time, read in the zone the dashboard shows. */
function inputTime(value: string, zone: 'utc' | 'local'): string | undefined {
  if (!value) return undefined;
  const time = zone === 'utc' ? new Date(`${value}Z`) : new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

export function HistoryScreen() {
  const { zone } = useShared();
  const now = useNow();
  const [outcome, setOutcome] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const pages = useCursorPages();
  const [page, setPage] = useState<HistoryPage | null>(null);
  const [error, setError] = useState<unknown>(null);

  usePolling(() => {
    api.history({ limit: pageSize, cursor: pages.cursor, outcome: outcome || undefined, since: inputTime(since, zone), until: inputTime(until, zone) }).then((next) => {
      setPage(next);
      setError(null);
    }, setError);
  }, 5000, [pages.cursor, outcome, since, until, zone]);
  const zoneName = zone === 'utc' ? 'UTC' : 'your time zone';
  const runs = page?.runs ?? [];
  return html`<section>
    <h1>History</h1>
    <form class="filters" role="search" onSubmit=${(event: Event) => event.preventDefault()}>
      <label>Outcome
        <select value=${outcome} onChange=${(event: Event) => { setOutcome((event.target as HTMLSelectElement).value); pages.restart(); }}>
          <option value="">any</option>
          ${runOutcomes.map((name) => html`<option value=${name}>${name.replace('_', ' ')}</option>`)}
        </select>
      </label>
      <label>Fired from (${zoneName})
        <input type="datetime-local" step="1" value=${since} onChange=${(event: Event) => { setSince((event.target as HTMLInputElement).value); pages.restart(); }} />
      </label>
      <label>Fired before (${zoneName})
        <input type="datetime-local" step="1" value=${until} onChange=${(event: Event) => { setUntil((event.target as HTMLInputElement).value); pages.restart(); }} />
      </label>
    </form>
    <${ErrorNote} error=${error} />
    <div class="scroll">
      <table>
        <thead><tr><th>Task</th><th>Run</th><th>Outcome</th><th>Started</th><th>Duration</th><th>Exit</th></tr></thead>
        <tbody>${runs.map((run) => html`<tr key=${`${run.taskId}/${run.run}`}>
          <td><a href=${taskHref(run.taskId)}>${run.taskId}</a></td>
          <td><a href=${runHref(run.taskId, run.run)}>#${run.run}</a></td>
          <td><${OutcomeLabel} outcome=${run.waiting ? 'waiting' : run.outcome} /></td>
          <td>${formatTime(run.startedAt ?? run.scheduledAt, zone)}</td>
          <td>${durationText(run, now)}</td>
          <td>${exitText(run)}</td>
        </tr>`)}</tbody>
      </table>
    </div>
    ${page && runs.length === 0 ? html`<p class="muted">No runs match.</p>` : null}
    <${Pager} pages=${pages} nextCursor=${page?.nextCursor} label="Pages of runs" previous="Newer" next="Older" />
  </section>`;
}
