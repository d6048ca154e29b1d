/**
 * The dashboard's only way to the daemon: its own HTTP API, on the page's origin, with the
 * session cookie (POST /api/session) rather than a token the page could leak. Every error
 * the API answers is `{"error":{"code","message"}}`; it becomes an ApiError whose message is
 * the API's, which already says what to do.
 */
import type { NodeView, RunView, SessionView, TaskPage, TaskView, TaskSummaryView, HistoryPage } from './views.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }

  /** The field a validation message names ("time: ... is not a cron expression"), if any. */
  get field(): string | undefined {
    return /^([A-Za-z]+): /.exec(this.message)?.[1];
  }
}

/** Called when the daemon answers 401: the session ended or never began. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, error?.code ?? 'unknown', error?.message ?? `the daemon answered ${response.status}`);
  }
  return parsed as T;
}

const taskPath = (id: string) => `/api/tasks/${encodeURIComponent(id)}`;
const query = (params: Record<string, string | number | undefined>): string => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
};

/** What the dashboard's buttons do to a task; each is a route of the spec or of the API guide. */
export type TaskAction = 'stop' | 'kill' | 'pause' | 'resume' | 'run' | 'delete';

export const api = {
  session: () => call<SessionView>('GET', '/api/session'),
  login: (token: string) => call<SessionView>('POST', '/api/session', { token }),
  logout: () => call<void>('DELETE', '/api/session'),
  listTasks: (params: { limit: number; cursor?: string; status?: string; prefix?: string; recent?: number }) =>
    call<TaskPage>('GET', `/api/tasks${query(params)}`),
  getTask: (id: string) => call<TaskView>('GET', taskPath(id)),
  nextFires: (id: string, n: number) => call<{ nextRuns: string[] }>('GET', `${taskPath(id)}/next${query({ n })}`),
  listRuns: (id: string, limit: number) => call<{ runs: RunView[]; nextCursor: string | null }>('GET', `${taskPath(id)}/runs${query({ limit })}`),
  getRun: (id: string, run: number) => call<RunView>('GET', `${taskPath(id)}/runs/${run}`),
  output: (id: string, run: number, stream: 'stdout' | 'stderr', offset: number) =>
    call<{ nextOffset: number; totalBytes: number; complete: boolean; text: string }>('GET', `${taskPath(id)}/runs/${run}/output${query({ stream, offset })}`),
  history: (params: { limit: number; cursor?: string; outcome?: string; since?: string; until?: string }) =>
    call<HistoryPage>('GET', `/api/runs${query(params)}`),
  nodes: () => call<{ nodes: NodeView[] }>('GET', '/api/nodes'),
  status: () => call<{ maxRuns: number; runsInProgress: number; runsWaiting: number; store: { kind: string } }>('GET', '/api/status'),
  /** A dry run: the task as it would be and its next fire times; nothing is stored. */
  preview: (body: object, next: number) => call<TaskSummaryView & { nextRuns: string[] }>('POST', `/api/tasks${query({ dryRun: 'true', next })}`, body),
  submit: (body: object) => call<TaskView>('POST', '/api/tasks', body),
  act: (id: string, action: TaskAction) => {
    switch (action) {
      case 'stop':
        return call<TaskView & { warning?: string }>('PUT', taskPath(id));
      case 'delete':
        return call<void>('DELETE', taskPath(id));
      default:
        return call<TaskView & { warning?: string }>('POST', `${taskPath(id)}/${action}`);
    }
  },
  /**
   * The live events of a task (Server-Sent Events), after the event `lastEventId` when given.
   * EventSource reconnects and resumes by itself after a dropped stream.
   */
  events: (id: string, lastEventId?: string) => new EventSource(`${taskPath(id)}/events${query({ lastEventId })}`, { withCredentials: true }),
  /** The whole of one stream of a run, read a window at a time. */
  async wholeOutput(id: string, run: number, stream: 'stdout' | 'stderr'): Promise<string> {
    let text = '';
    for (let offset = 0; ; ) {
      const window = await api.output(id, run, stream, offset);
      text += window.text;
      if (window.nextOffset >= window.totalBytes || window.nextOffset === offset) return text;
      offset = window.nextOffset;
    }
  },
};
