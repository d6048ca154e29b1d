/**
 * A typed client of the daemon's HTTP API, used by the CLI, the tests and anyone scripting
 * the scheduler. Errors come back as the same SchedulerError the server raised; a daemon
 * that does not answer is a daemon_unreachable error that says how to start one.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errorFromAnswer, parseJson, unreachable } from './answer-errors.js';
import { followEvents, type ReceivedEvent } from './event-stream.js';
import { downloadExport, uploadImport, type Endpoint } from './transfer.js';
import type { Readable, Writable } from 'node:stream';
import type { ExportEnd, ImportSummaryJson } from '../protocol/export-format.js';
import type { Role } from '../protocol/vocabulary.js';
import type {
  AllRunsPageJson,
  AllRunsQuery,
  DryRunJson,
  ListQuery,
  NextJson,
  NodeListJson,
  CreatedTokenJson,
  AuditPageJson,
  TokenListJson,
  OutputJson,
  OutputQuery,
  RunJson,
  RunPageJson,
  RunsQuery,
  StatusJson,
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

  /** Checks a task without storing it: the task as it would be, and its next `next` fire times. */
  dryRun(body: SubmitBody, next = 5): Promise<DryRunJson> {
    return this.request('POST', `/api/tasks${queryString({ dryRun: 'true', next })}`, body);
  }

  /** When a task will fire next, `n` times. */
  next(id: string, n = 5): Promise<NextJson> {
    return this.request('GET', `${taskPath(id)}/next${queryString({ n })}`);
  }

  /** One page of tasks. */
  listPage(query: ListQuery = {}): Promise<TaskPageJson> {
    return this.request('GET', `/api/tasks${queryString(query)}`);
  }

  /**
   * Every task, a page at a time, in the API's order. The next page is asked for while the
   * caller handles this one, and no more than one page is held ahead: a million tasks are
   * streamed in bounded memory.
   */
  async *listPages(query: Omit<ListQuery, 'cursor'> = {}): AsyncGenerator<TaskPageJson['tasks']> {
    let page = await this.listPage(query);
    for (;;) {
      const cursor = page.nextCursor ?? undefined;
      const next = cursor === undefined ? undefined : this.listPage({ ...query, cursor });
      // A caller that stops early never awaits `next`: its failure is not an unhandled rejection.
      next?.catch(() => undefined);
      yield page.tasks;
      if (next === undefined) return;
      page = await next;
    }
  }

  /** Every task, page after page. */
  async *listAll(query: Omit<ListQuery, 'cursor'> = {}): AsyncGenerator<TaskPageJson['tasks'][number]> {
    for await (const tasks of this.listPages(query)) yield* tasks;
  }

  /** A task with its results. */
  get(id: string): Promise<TaskJson> {
    return this.request('GET', taskPath(id));
  }

  /** One page of a task's runs, newest first. */
  listRunsPage(id: string, query: RunsQuery = {}): Promise<RunPageJson> {
    return this.request('GET', `${taskPath(id)}/runs${queryString(query)}`);
  }

  /** One page of the runs of every task, newest fire first, without their output. */
  listAllRunsPage(query: AllRunsQuery = {}): Promise<AllRunsPageJson> {
    return this.request('GET', `/api/runs${queryString(query)}`);
  }

  /** One run of a task, with its output. */
  getRun(id: string, run: number): Promise<RunJson> {
    return this.request('GET', `${taskPath(id)}/runs/${run}`);
  }

  /** A window of one stream of a run's output, from a byte offset. */
  output(id: string, run: number, query: OutputQuery = {}): Promise<OutputJson> {
    return this.request('GET', `${taskPath(id)}/runs/${run}/output${queryString(query)}`);
  }

  /** The task's live events, reconnecting as needed, until nothing more will happen to it. */
  events(id: string): AsyncGenerator<ReceivedEvent> {
    return followEvents({ baseUrl: this.baseUrl, path: `${taskPath(id)}/events`, token: this.options.token });
  }

  /** Waits until the task's version differs from `version` (or the wait times out) and returns it. */
  watch(id: string, version: number, timeout = '30s'): Promise<TaskJson> {
    return this.request('GET', `${taskPath(id)}?watch=true&version=${version}&timeout=${timeout}`);
  }

  /** Stops a task; `warning` is set when a run goes on. */
  stop(id: string): Promise<StopResponse> {
    return this.request('PUT', taskPath(id));
  }

  /** Pauses a recurring task. */
  pause(id: string): Promise<StopResponse> {
    return this.request('POST', `${taskPath(id)}/pause`);
  }

  /** Resumes a paused task. */
  resume(id: string): Promise<StopResponse> {
    return this.request('POST', `${taskPath(id)}/resume`);
  }

  /** Starts a run now; `warning` says when it was skipped (a run is executing). */
  runNow(id: string): Promise<StopResponse> {
    return this.request('POST', `${taskPath(id)}/run`);
  }

  /** Ends the task's run in progress; resolves once it is recorded as killed. */
  kill(id: string): Promise<TaskJson> {
    return this.request('POST', `${taskPath(id)}/kill`);
  }

  /** Stops and deletes a task. */
  async delete(id: string): Promise<void> {
    await this.request('DELETE', taskPath(id));
  }

  /** The daemon's version, uptime, store and what it is doing. */
  status(): Promise<StatusJson> {
    return this.request('GET', '/api/status');
  }

  /** The daemons (nodes) sharing the store, the one answering marked `self`. */
  nodes(): Promise<NodeListJson> {
    return this.request('GET', '/api/nodes');
  }

  /** Makes a token with `role`; the answer holds the token, shown this once. */
  createToken(name: string, role: Role): Promise<CreatedTokenJson> {
    return this.request('POST', '/api/tokens', { name, role });
  }

  /** The tokens the daemon knows, with their roles (never their values). */
  tokens(): Promise<TokenListJson> {
    return this.request('GET', '/api/tokens');
  }

  /** A page of the audit log, newest first; `before`: the previous page's nextBefore. */
  audit(limit: number, before?: number): Promise<AuditPageJson> {
    return this.request('GET', `/api/audit?limit=${limit}${before === undefined ? '' : `&before=${before}`}`);
  }

  /** Revokes a made token. */
  async revokeToken(name: string): Promise<void> {
    await this.request('DELETE', `/api/tokens/${encodeURIComponent(name)}`);
  }

  /** Has the daemon write a consistent copy of its database to `path` (on its host). */
  backup(path: string, overwrite: boolean): Promise<{ path: string; bytes: number }> {
    return this.request('POST', '/api/backup', { path, overwrite });
  }

  /** Writes every task with its runs (the NDJSON export) to `sink` as it arrives; resolves with the end line's counts. */
  exportTasks(sink: Writable): Promise<ExportEnd> {
    return downloadExport(this.endpoint(), sink);
  }

  /** Sends an export read from `source`; a task whose id exists is refused, or skipped with onConflict 'skip'. */
  importTasks(source: Readable, onConflict: 'refuse' | 'skip' = 'refuse'): Promise<ImportSummaryJson> {
    return uploadImport(this.endpoint(), source, onConflict);
  }

  /** Whether the daemon answers and its store is usable. */
  health(): Promise<{ status: 'ok' }> {
    return this.request('GET', '/healthz');
  }

  private endpoint(): Endpoint {
    const headers: Record<string, string> = this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
    return { baseUrl: this.baseUrl, headers };
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: { status: number; text: string };
    try {
      response = await exchange(`${this.baseUrl}${path}`, method, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    if (response.status === 204) return undefined as T;
    if (response.status >= 200 && response.status < 300) return parseJson(response.text) as T;
    throw errorFromAnswer(response.status, response.text);
  }
}

/**
 * One HTTP exchange. node:http rather than fetch: loading fetch (undici) costs a CLI call
 * about as much CPU as the rest of it, and each command makes only a request or two.
 * Rejects when no answer arrives whole (refused, reset, cut off).
 */
function exchange(url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<{ status: number; text: string }> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (!response.complete) reject(new Error('the connection closed before the whole answer arrived'));
        else resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** "?a=1&b=2" from the defined values of `query`, or "" when there are none. */
function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  return params.size > 0 ? `?${params}` : '';
}

function taskPath(id: string): string {
  return `/api/tasks/${encodeURIComponent(id)}`;
}
