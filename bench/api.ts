/**
 * The few calls of the scheduler's HTTP API the benchmark makes itself (the load itself
 * comes from wrk, wrk.ts). Every request is bounded by a timeout and goes to loopback only.
 */

/** A run as the API returns it (the fields the benchmark reads). */
export interface RunJson {
  run: number;
  scheduledAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: string;
  stdout: string;
  /** Every byte the script wrote to stdout, kept or not. */
  stdoutBytes: number;
  stdoutDroppedBytes: number;
  /** The node that executed the run, when several daemons share a PostgreSQL store. */
  node?: string;
}

/** A task as the API returns it (the fields the benchmark reads). */
export interface TaskJson {
  id: string;
  status: string;
  version: number;
  results: RunJson[];
}

export interface Submission {
  id: string;
  type: 'delay' | 'cron' | 'at';
  /** A duration (delay, cron interval), a cron expression, or an ISO instant (at). */
  time: string;
  script: string;
}

const requestTimeoutMs = 30_000;

/** Refuses any address but 127.0.0.1: the benchmark sends traffic nowhere else. */
export function assertLoopback(url: string): void {
  if (new URL(url).hostname !== '127.0.0.1') throw new Error(`refusing to send benchmark traffic to ${url}`);
}

export class Api {
  constructor(private readonly base: string) {
    assertLoopback(base);
  }

  async submit(task: Submission): Promise<TaskJson> {
    return this.call('POST', '/api/tasks', task, 201);
  }

  async get(id: string): Promise<TaskJson> {
    return this.call('GET', `/api/tasks/${encodeURIComponent(id)}`, undefined, 200);
  }

  /** Stops the task (PUT): a recurring task fires no more. */
  async stop(id: string): Promise<TaskJson> {
    return this.call('PUT', `/api/tasks/${encodeURIComponent(id)}`, undefined, 200);
  }

  /** Deletes the task with its results. */
  async delete(id: string): Promise<void> {
    await this.call('DELETE', `/api/tasks/${encodeURIComponent(id)}`, undefined, 204);
  }

  /** The task's retained runs, newest first, at most `limit` (1 to 1000): one page. */
  async runs(id: string, limit: number): Promise<RunJson[]> {
    const page = await this.call<{ runs: RunJson[] }>('GET', `/api/tasks/${encodeURIComponent(id)}/runs?limit=${limit}`, undefined, 200);
    return page.runs;
  }

  /** Long poll: answers when the task's version differs from `version`, or after `timeoutMs`. */
  async watch(id: string, version: number, timeoutMs: number): Promise<TaskJson> {
    const query = `watch=true&version=${version}&timeout=${timeoutMs}ms`;
    return this.call('GET', `/api/tasks/${encodeURIComponent(id)}?${query}`, undefined, 200);
  }

  /** How many tasks have `status`, counting at most `limit`. */
  async countWithStatus(status: string, limit: number, idPrefix?: string): Promise<number> {
    const prefix = idPrefix === undefined ? '' : `&prefix=${encodeURIComponent(idPrefix)}`;
    const page = await this.call<{ tasks: unknown[] }>('GET', `/api/tasks?status=${status}&limit=${limit}${prefix}`, undefined, 200);
    return page.tasks.length;
  }

  /** The value of an unlabelled series of GET /metrics (a counter or gauge); 0 when it is absent. */
  async metric(name: string): Promise<number> {
    const response = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(requestTimeoutMs) });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET /metrics: HTTP ${response.status}: ${text.slice(0, 300)}`);
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
    return line === undefined ? 0 : Number(line.slice(name.length + 1));
  }

  private async call<T>(method: string, path: string, body: unknown, expected: number): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (response.status !== expected) throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    // 204 No Content has no body.
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}

/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<I, O>(items: readonly I[], limit: number, work: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const results = new Array<O>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
