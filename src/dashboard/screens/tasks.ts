/**
 * Tasks: a page at a time from the server (cursor paging stays fast at a million tasks),
 * filtered by status and id prefix, with the last outcomes of each, and actions on several.
 */
import { useState } from 'preact/hooks';
import { api, type TaskAction } from '../api.js';
import { countdown, scheduleInWords } from '../format.js';
import { ErrorNote, html, mayDo, OutcomeMarks, Pager, refusedBecause, StatusBadge, taskHref, useCursorPages, useNow, usePolling, useShared } from '../ui.js';
import { taskStatuses, type TaskPage } from '../views.js';

const pageSize = 50;
const bulkActions: Array<[TaskAction, string]> = [['pause', 'Pause'], ['resume', 'Resume'], ['run', 'Run now'], ['delete', 'Delete']];

export function TasksScreen() {
  const { session, zone } = useShared();
  const now = useNow();
  const [status, setStatus] = useState('');
  const [prefix, setPrefix] = useState('');
  const pages = useCursorPages();
  const [page, setPage] = useState<TaskPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [report, setReport] = useState<string | null>(null);

  const load = () => {
    api.listTasks({ limit: pageSize, cursor: pages.cursor, status: status || undefined, prefix: prefix || undefined, recent: 10 }).then(
      (next) => {
        setPage(next);
        setError(null);
      },
      setError,
    );
  };
  usePolling(load, 5000, [pages.cursor, status, prefix]);

  const restart = () => {
    pages.restart();
    setSelected(new Set());
  };
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const act = async (action: TaskAction, label: string) => {
    const ids = [...selected];
    if (action === 'delete' && !confirm(`Delete ${ids.length} task(s) and their results?`)) return;
    const outcomes = await Promise.allSettled(ids.map((id) => api.act(id, action)));
    const failed = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? [`${ids[i]}: ${(outcome.reason as Error).message}`] : []));
    setReport(`${label}: ${ids.length - failed.length} of ${ids.length} done.${failed.length > 0 ? ` Refused: ${failed.join('; ')}` : ''}`);
    setSelected(new Set());
    load();
  };

  const tasks = page?.tasks ?? [];
  const allSelected = tasks.length > 0 && tasks.every((task) => selected.has(task.id));
  return html`<section>
    <h1>Tasks</h1>
    <form class="filters" role="search" onSubmit=${(event: Event) => event.preventDefault()}>
      <label>Status
        <select value=${status} onChange=${(event: Event) => { setStatus((event.target as HTMLSelectElement).value); restart(); }}>
          <option value="">all</option>
          ${taskStatuses.map((name) => html`<option value=${name}>${name}</option>`)}
        </select>
      </label>
      <label>Id starts with
        <input type="search" value=${prefix} placeholder="backup-" onInput=${(event: Event) => { setPrefix((event.target as HTMLInputElement).value); restart(); }} />
      </label>
    </form>
    <div class="bulk" role="group" aria-label="Actions on the selected tasks">
      <span class="muted">${selected.size} selected</span>
      ${bulkActions.map(([action, label]) => {
        const allowed = mayDo(session.role, action);
        return html`<button type="button" disabled=${!allowed || selected.size === 0} title=${allowed ? undefined : refusedBecause(session.role, label.toLowerCase())}
          onClick=${() => act(action, label)}>${label}</button>`;
      })}
    </div>
    ${report ? html`<p class="notice" role="status">${report}</p>` : null}
    <${ErrorNote} error=${error} />
    <div class="scroll">
      <table class="tasks">
        <thead><tr>
          <th><input type="checkbox" aria-label="Select every task on this page" checked=${allSelected}
            onChange=${() => setSelected(allSelected ? new Set() : new Set(tasks.map((task) => task.id)))} /></th>
          <th>Task</th><th>Status</th><th>Schedule</th><th>Next run</th><th>Last runs</th>
        </tr></thead>
        <tbody>
          ${tasks.map((task) => html`<tr key=${task.id}>
            <td><input type="checkbox" aria-label=${`Select ${task.id}`} checked=${selected.has(task.id)} onChange=${() => toggle(task.id)} /></td>
            <td><a href=${taskHref(task.id)}>${task.id}</a></td>
            <td><${StatusBadge} status=${task.status} /></td>
            <td>${scheduleInWords(task, zone)}</td>
            <td>${countdown(task.nextRunAt, now)}</td>
            <td><${OutcomeMarks} outcomes=${task.recentOutcomes ?? []} /></td>
          </tr>`)}
        </tbody>
      </table>
    </div>
    ${page && tasks.length === 0 ? html`<p class="muted">No tasks${status || prefix ? ' match' : ' yet'}. <a href="#/new">Submit one</a>.</p>` : null}
    <${Pager} pages=${pages} nextCursor=${page?.nextCursor} label="Pages of tasks" previous="Previous page" next="Next page" />
  </section>`;
}
