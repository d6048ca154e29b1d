/**
 * The long poll of GET /api/tasks/{id}?watch=true&version=N: answer at once when the task's
 * version differs from N, otherwise as soon as it changes, or with the unchanged task when
 * the wait times out (the client then asks again). Waiters woken by the same change share
 * one read of the task, so a thousand watchers cost one query per change.
 */
import type { FastifyReply } from 'fastify';
import { SchedulerError } from '../core/errors.js';
import type { ChangeSubscriptions, TaskOperations, TaskWithRuns } from './ports.js';

/** Long polls over one engine's tasks. */
export class TaskWatcher {
  private readonly readsInFlight = new Map<string, Promise<TaskWithRuns>>();

  constructor(
    private readonly engine: Pick<TaskOperations, 'get'>,
    private readonly feed: ChangeSubscriptions,
  ) {}

  /** Waits as the long poll says, then returns the task. */
  async watch(params: { id: string; version: number; waitMs: number; reply: FastifyReply }): Promise<TaskWithRuns> {
    const { id, version, waitMs, reply } = params;
    // Subscribe before reading, so a change between the read and the wait is not missed.
    const subscription = this.feed.subscribe(id, waitMs, version);
    const onClose = () => subscription.cancel();
    reply.raw.once('close', onClose);
    try {
      const current = await this.engine.get(id);
      if (current.task.version !== version) return current;
      const notice = await subscription.next;
      if (notice === 'deleted') throw new SchedulerError('not_found', `task "${id}" was deleted`);
      return await this.readShared(id);
    } finally {
      subscription.cancel();
      reply.raw.off('close', onClose);
    }
  }

  /** Reads a task, sharing the read with every watcher woken by the same change. */
  private readShared(id: string): Promise<TaskWithRuns> {
    let read = this.readsInFlight.get(id);
    if (!read) {
      read = this.engine.get(id).finally(() => this.readsInFlight.delete(id));
      this.readsInFlight.set(id, read);
    }
    return read;
  }
}
