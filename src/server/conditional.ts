/**
 * Conditional requests on a task (RFC 9110 §8.8.3, §13): its entity tag is its version, which
 * every change raises, so `ETag: "v7"` is a strong validator. If-None-Match on a read saves
 * sending a task the client has (304); If-Match on a change makes it apply only to the
 * version the client read (412 otherwise), checked by the engine under the task's lock so
 * that nothing can change the task between the check and the change.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { SchedulerError } from '../core/errors.js';

/** The entity tag of a task at `version`. */
export function taskEtag(version: number): string {
  return `"v${version}"`;
}

/** Sets the task's ETag on `reply`. */
export function withEtag(reply: FastifyReply, version: number): void {
  reply.header('etag', taskEtag(version));
}

/** The condition header of the routes that change a task (documented; parsed below). */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'the task\'s ETag (e.g. "v7"), or *: change it only if it is still at that version, else 412' })),
});

/** The condition header of a task's GET. */
export const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'the ETag of the version the client has (e.g. "v7"), or *: 304 with no body if the task is still at it' })),
});

/** One member of an If-Match or If-None-Match field. */
interface EntityTag {
  weak: boolean;
  /** Between the quotes. */
  opaque: string;
}

/** True when the request's If-None-Match names the task at `version` ("*" names any task): the client has it already. */
export function clientHasVersion(request: FastifyRequest, version: number): boolean {
  const tags = entityTags(request, 'if-none-match');
  if (tags === undefined) return false;
  if (tags === '*') return true;
  // Weak comparison: W/"v7" and "v7" both name version 7.
  return tags.some((tag) => tag.opaque === `v${version}`);
}

/**
 * The versions the request's If-Match allows the change to apply to, for the engine; undefined
 * when there is no condition (no If-Match, or "*", which any existing task meets). Tags that
 * are weak or not ours match no version (strong comparison), so the change is refused.
 */
export function versionsIfMatch(request: FastifyRequest): number[] | undefined {
  const tags = entityTags(request, 'if-match');
  if (tags === undefined || tags === '*') return undefined;
  return tags.flatMap((tag) => {
    const version = /^v(\d{1,15})$/.exec(tag.opaque)?.[1];
    return !tag.weak && version !== undefined ? [Number(version)] : [];
  });
}

/** The parsed field, "*", or undefined when absent; a malformed field is a 400 that shows the form. */
function entityTags(request: FastifyRequest, name: 'if-match' | 'if-none-match'): EntityTag[] | '*' | undefined {
  const header = request.headers[name];
  if (header === undefined) return undefined;
  // Repeated fields are one comma-separated list (RFC 9110 §5.3).
  const field = (Array.isArray(header) ? header.join(', ') : header).trim();
  if (field === '*') return '*';
  const shown = name === 'if-match' ? 'If-Match' : 'If-None-Match';
  const tags: EntityTag[] = [];
  const member = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y;
  while (member.lastIndex < field.length) {
    const match = member.exec(field);
    if (!match) {
      throw new SchedulerError('invalid_request', `${shown}: "${field}" is not a list of entity tags; send the task's ETag as it came, quotes included, e.g. ${shown}: "v7"`);
    }
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
  }
  if (tags.length === 0) throw new SchedulerError('invalid_request', `${shown}: empty; send the task's ETag as it came, e.g. ${shown}: "v7"`);
  return tags;
}
