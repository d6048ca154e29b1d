/**
 * The closed sets of names the API speaks: task types and statuses, run outcomes, output
 * streams, overlap rules and catch-up modes. The core defines them, because its logic is
 * built on them, and the schemas are built from them; a client (the CLI's choices, its
 * filters) takes them from here, as part of the wire, and so depends on the protocol only.
 */
export { runOutcomes, taskStatuses, taskTypes, type OutputStream, type RunOutcome, type TaskStatus, type TaskType } from '../core/task.js';
export { overlapRules, type OverlapRule } from '../core/policy.js';
export { catchUpModes, type CatchUpMode } from '../core/catch-up.js';

/**
 * The roles a token can have (docs/configuration.md, Tokens and roles); what each may do is
 * the server's table (server/roles.ts).
 */
export const roles = ['admin', 'operator', 'viewer', 'metrics'] as const;
export type Role = (typeof roles)[number];

/** What a token may be called: in lists, logs and the audit log. */
export const tokenNamePattern = '^[A-Za-z0-9._-]{1,64}$';
export const tokenNameRule = '1 to 64 letters, digits, ".", "_" or "-"';
