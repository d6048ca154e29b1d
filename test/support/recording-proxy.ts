/** An HTTP proxy that records what passes through it, to tell what a CLI process has asked and been answered. */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request that passed through a RecordingProxy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query string. */
  path: string;
  /** The daemon's status code, once its answer's head has been passed on. */
  status?: number;
}

/**
 * An HTTP proxy in front of a daemon that records every request passing through it, so
 * that a test can tell what a CLI process has asked for and been answered (e.g. that a
 * `logs --follow` is connected to the event stream, not merely started), instead of guessing
 * with a delay. Answers are streamed through as they come.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  url = '';
  private readonly server = createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    this.requests.push(record);
    const target = new URL(this.target);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        record.status = answer.statusCode;
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    await new Promise<void>((resolvePromise) => this.server.listen(0, '127.0.0.1', resolvePromise));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The requests for `path` (without its query string) that the daemon has answered. */
  answered(path: string): ProxiedRequest[] {
    return this.requests.filter((r) => r.path.split('?')[0] === path && r.status !== undefined);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolvePromise) => this.server.close(() => resolvePromise()));
  }
}
