/**
 * A typed client of the daemon's HTTP API, used by the CLI, the tests and anyone scripting
 * the scheduler. Errors come back as the same SchedulerError the server raised; a daemon
 * that does not answer is a daemon_unreachable error that says how to start one.
 */
import { SchedulerError, isErrorCode } from '../core/errors.js';
import type {
  ListQuery,
  StopResponse,
  SubmitBody,
  TaskJson,
  TaskPageJson,
} from '../protocol/schemas.js';

/** Where the daemon is, and how to authenticate to it. */
export interface ClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8865. */
  baseUrl: string;
  token?: string;
}

/** The default address of the daemon. */
export const defaultServerUrl = 'http://127.0.0.1:8865';

/** A client of one daemon. */
export class SchedulerClient {
  private readonly baseUrl: string;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /** Submits a task; resolves once the daemon has committed it. */
  submit(body: SubmitBody): Promise<TaskJson> {
    return this.request('POST', '/api/tasks', body);
  }

  /** One page of tasks. */
  listPage(query: ListQuery = {}): Promise<TaskPageJson> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.size > 0 ? `?${params}` : '';
    return this.request('GET', `/api/tasks${search}`);
  }

  /** Every task, page after page. */
  async *listAll(query: Omit<ListQuery, 'cursor'> = {}): AsyncGenerator<TaskPageJson['tasks'][number]> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage({ ...query, cursor });
      yield* page.tasks;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** A task with its results. */
  get(id: string): Promise<TaskJson> {
    return this.request('GET', taskPath(id));
  }

  /** Waits until the task's version differs from `version` (or the wait times out) and returns it. */
  watch(id: string, version: number, timeout = '30s'): Promise<TaskJson> {
    return this.request('GET', `${taskPath(id)}?watch=true&version=${version}&timeout=${timeout}`);
  }

  /** Stops a task; `warning` is set when a run goes on. */
  stop(id: string): Promise<StopResponse> {
    return this.request('PUT', taskPath(id));
  }

  /** Stops and deletes a task. */
  async delete(id: string): Promise<void> {
    await this.request('DELETE', taskPath(id));
  }

  /** Whether the daemon answers and its store is usable. */
  health(): Promise<{ status: 'ok' }> {
    return this.request('GET', '/healthz');
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const payload = parseJson(text);
    if (response.ok) return payload as T;
    const problem = (payload as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (problem && isErrorCode(problem.code) && typeof problem.message === 'string') {
      throw new SchedulerError(problem.code, problem.message);
    }
    throw new SchedulerError('internal', `the daemon answered ${response.status} ${response.statusText}: ${text.slice(0, 200)}`);
  }
}

function taskPath(id: string): string {
  return `/api/tasks/${encodeURIComponent(id)}`;
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unreachable(baseUrl: string, error: unknown): SchedulerError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new SchedulerError(
    'daemon_unreachable',
    `no scheduler daemon answers at ${baseUrl} (${why}). Start one with "scheduler daemon" ` +
      `(or "npm start" in the repository), or point --server or SCHEDULER_URL at a running one.`,
  );
}
