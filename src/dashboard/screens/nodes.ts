/** Nodes: the daemons sharing the store, each with its heartbeat and load (one, on SQLite). */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ago, formatTime } from '../format.js';
import { ErrorNote, html, useNow, usePolling, useShared } from '../ui.js';
import type { NodeView } from '../views.js';

export function NodesScreen() {
  const { zone } = useShared();
  const now = useNow();
  const [nodes, setNodes] = useState<NodeView[]>([]);
  const [status, setStatus] = useState<{ maxRuns: number; runsInProgress: number; runsWaiting: number; store: { kind: string } } | null>(null);
  const [error, setError] = useState<unknown>(null);
  usePolling(() => {
    Promise.all([api.nodes(), api.status()]).then(([listed, own]) => {
      setNodes(listed.nodes);
      setStatus(own);
      setError(null);
    }, setError);
  }, 5000, []);
  return html`<section>
    <h1>Nodes</h1>
    ${status ? html`<p>Store: ${status.store.kind}. This node runs ${status.runsInProgress} of at most ${status.maxRuns} runs at once; ${status.runsWaiting} wait for a slot.
      ${status.store.kind === 'sqlite' ? ' A SQLite store has one node; several daemons share a PostgreSQL store.' : ''}</p>` : null}
    <${ErrorNote} error=${error} />
    <div class="scroll">
      <table>
        <thead><tr><th>Node</th><th>State</th><th>Host</th><th>Last heartbeat</th><th>Runs executing</th><th>Version</th><th>Started</th></tr></thead>
        <tbody>${nodes.map((node) => html`<tr key=${node.id}>
          <td>${node.id}${node.self ? html` <span class="muted">(this one)</span>` : null}</td>
          <td><span class=${`badge node-${node.state}`}>${node.state}</span></td>
          <td>${node.host} <span class="muted">pid ${node.pid}</span></td>
          <td>${formatTime(node.heartbeatAt, zone)} <span class="muted">(${ago(node.heartbeatAt, now)})</span></td>
          <td>${node.runsExecuting}</td>
          <td>${node.version}</td>
          <td>${formatTime(node.startedAt, zone)}</td>
        </tr>`)}</tbody>
      </table>
    </div>
  </section>`;
}
