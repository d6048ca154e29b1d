/**
 * The audit log: every change asked of the daemon (any request but GET, HEAD and OPTIONS):
 * who (the token's name and role), what (the method, the path, the route), on which task,
 * when, from where, and the status it was answered with, refusals included. Entries are
 * written to the store in groups (every 100 ms, or at 256), so that a burst of submits does
 * not pay a write each; the newest `keep` are kept. What a crash catches in memory, less than
 * 100 ms of entries, is lost; the changes themselves are not.
 */
import type { AuditEntry } from '../core/access-records.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { FaultReporter } from './ports.js';
import { readMethods } from './request-site.js';

/** Where entries go: the store. */
export interface AuditStore {
  appendAudit(entries: readonly AuditEntry[], keep: number): Promise<void>;
}

/** Entries kept in the store. */
export const auditEntriesKept = 10_000;
const flushMs = 100;
const flushAt = 256;
/** While the store refuses writes, at most this many entries wait; older ones are dropped (and the fault says so). */
const maxWaiting = 10_000;

export class AuditLog {
  private waiting: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly faults?: FaultReporter,
  ) {}

  record(entry: AuditEntry): void {
    this.waiting.push(entry);
    if (this.waiting.length >= flushAt) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), flushMs).unref();
  }

  /** Writes what waits; resolves once it is written (or kept waiting, the store refusing). */
  async flush(): Promise<void> {
    await this.flushing;
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0);
    if (batch.length === 0) return;
    this.flushing = this.store.appendAudit(batch, auditEntriesKept).then(
      () => undefined,
      (error: unknown) => {
        const kept = [...batch, ...this.waiting].slice(-maxWaiting);
        const dropped = batch.length + this.waiting.length - kept.length;
        this.waiting = kept;
        this.faults?.report('audit', { error, dropped }, `could not write the audit log; its entries wait in memory (at most ${maxWaiting}) and are written again`);
        this.timer ??= setTimeout(() => void this.flush(), 1000).unref();
      },
    );
    await this.flushing;
  }
}

/**
 * Records every request to a route that may change something in `audit`, once it is answered
 * (refusals too). The hook is the route's own, not the app's: reads (most requests) do not
 * run it at all.
 */
export function auditChanges(app: FastifyInstance, audit: AuditLog, clock: Pick<Clock, 'now'>): void {
  /**
   * The hook of a route whose operation is `operation`. It calls back rather than being
   * async: a promise and a microtask less on every change.
   */
  const recorder = (operation: string | null) => (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const params = request.params as { id?: unknown } | undefined;
    const body = request.body as { id?: unknown } | undefined;
    const taskId = typeof params?.id === 'string' ? params.id : operation === 'submitTask' && typeof body?.id === 'string' ? body.id : null;
    const { url } = request;
    const query = url.indexOf('?');
    audit.record({
      at: clock.now(),
      token: request.credential?.name ?? null,
      role: request.credential?.role ?? null,
      method: request.method,
      path: query < 0 ? url : url.slice(0, query),
      operation,
      taskId,
      status: reply.statusCode,
      remote: request.ip,
    });
    done();
  };
  app.addHook('onRoute', (route) => {
    // A route of methods that change nothing is not audited.
    if ([route.method].flat().every((method) => readMethods.has(method))) return;
    // The operation is the route's, known now: asking each request for its routeOptions builds an object per call.
    const operation = (route.schema as { operationId?: string } | undefined)?.operationId ?? null;
    route.onResponse = [...[route.onResponse ?? []].flat(), recorder(operation)];
  });
  // What waits is written before the daemon's store closes.
  app.addHook('onClose', () => audit.flush());
}
