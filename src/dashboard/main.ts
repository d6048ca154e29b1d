/**
 * The dashboard: a page of the daemon's own origin that reads and changes tasks through the
 * HTTP API (api.ts). Screens are chosen by the URL's fragment (#/tasks/ID), so the daemon
 * serves one page and every screen can be bookmarked.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, whenUnauthorized } from './api.js';
import type { ZoneChoice } from './format.js';
import { savedZone, saveZone } from './zone-choice.js';
import { HistoryScreen } from './screens/history.js';
import { LoginScreen } from './screens/login.js';
import { NewTaskScreen } from './screens/new-task.js';
import { NodesScreen } from './screens/nodes.js';
import { RunScreen } from './screens/run.js';
import { TaskScreen } from './screens/task.js';
import { TasksScreen } from './screens/tasks.js';
import { ErrorNote, html, navigate, SharedContext } from './ui.js';
import type { SessionView } from './views.js';

/** The screen a fragment names. */
function route(hash: string) {
  const path = hash.replace(/^#/, '') || '/tasks';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'tasks' && parts[1] !== undefined && parts[2] === 'runs' && parts[3] !== undefined) {
    return html`<${RunScreen} id=${parts[1]} run=${Number(parts[3])} />`;
  }
  if (parts[0] === 'tasks' && parts[1] !== undefined) return html`<${TaskScreen} id=${parts[1]} />`;
  if (parts[0] === 'new') return html`<${NewTaskScreen} />`;
  if (parts[0] === 'history') return html`<${HistoryScreen} />`;
  if (parts[0] === 'nodes') return html`<${NodesScreen} />`;
  return html`<${TasksScreen} />`;
}

const screens = [
  ['#/tasks', 'Tasks'],
  ['#/new', 'New task'],
  ['#/history', 'History'],
  ['#/nodes', 'Nodes'],
] as const;

function App() {
  const [hash, setHash] = useState(location.hash);
  const [session, setSession] = useState<SessionView | null | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(null);
  const [zone, setZone] = useState<ZoneChoice>(savedZone());

  const loadSession = () =>
    api.session().then(setSession, (error: unknown) => {
      if ((error as { status?: number }).status === 401) setSession(null);
      else setFailure(error);
    });
  useEffect(() => {
    const onHash = () => setHash(location.hash);
    addEventListener('hashchange', onHash);
    whenUnauthorized(() => setSession(null));
    void loadSession();
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.title = `scheduler${session ? ` · ${session.name}` : ''}`;
  }, [session]);

  if (failure) return html`<main><${ErrorNote} error=${failure} /></main>`;
  if (session === undefined) return html`<main><p class="muted">Loading…</p></main>`;
  if (session === null) return html`<${LoginScreen} onLogin=${(who: SessionView) => setSession(who)} />`;

  const toggleZone = () => {
    const next = zone === 'utc' ? 'local' : 'utc';
    saveZone(next);
    setZone(next);
  };
  const logout = async () => {
    await api.logout().catch(() => undefined);
    setSession(null);
    navigate('#/tasks');
  };
  const current = `#/${(hash.replace(/^#\/?/, '') || 'tasks').split('/')[0]}`;
  return html`<${SharedContext.Provider} value=${{ session, zone }}>
    <header class="top">
      <a class="brand" href="#/tasks">scheduler</a>
      <nav aria-label="Screens">
        ${screens.map(([href, label]) => html`<a href=${href} aria-current=${current === href ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <div class="who">
        <button type="button" class="link" onClick=${toggleZone} aria-label=${`Times are shown in ${zone === 'utc' ? 'UTC' : 'your time zone'}; switch`}>
          ${zone === 'utc' ? 'UTC' : 'Local time'}
        </button>
        <span class="muted">${session.name} (${session.role})</span>
        ${session.tokenRequired ? html`<button type="button" class="link" onClick=${logout}>Log out</button>` : null}
      </div>
    </header>
    <main>${route(hash)}</main>
  <//>`;
}

render(html`<${App} />`, document.getElementById('app')!);
