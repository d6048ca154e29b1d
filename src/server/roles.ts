/**
 * Who may call what: every route, by its operationId, and the roles allowed to call it, in
 * one table. A token has one role:
 *
 * - **admin**: everything;
 * - **operator**: runs the tasks (submit, stop, kill, pause, resume, run now) and reads;
 *   it deletes nothing, and backs up and imports nothing;
 * - **viewer**: reads, output included (unless the daemon hides output from viewers);
 * - **metrics**: reads GET /metrics, and nothing else (a token for Prometheus alone).
 *
 * A route missing from the table is refused to all but admin: a new route is closed until
 * it is given its roles here (test/server/roles.test.ts checks that every route is listed).
 */
import { roles, type Role } from '../protocol/vocabulary.js';

export { roles, type Role };

/** The routes a viewer may not read when output is hidden from viewers (`hideOutputFromViewers`). */
const showsOutput = new Set(['getTask', 'getRun', 'getRunOutput', 'listRuns', 'streamTaskEvents', 'exportTasks']);

const readers: readonly Role[] = ['admin', 'operator', 'viewer'];
const runners: readonly Role[] = ['admin', 'operator'];
const adminOnly: readonly Role[] = ['admin'];

/** The roles allowed each route, by operationId. */
export const allowedRoles: Readonly<Record<string, readonly Role[]>> = {
  getHealth: [...roles],
  getOpenApi: readers,
  getStatus: readers,
  listNodes: readers,
  listTasks: readers,
  getTask: readers,
  getNextFires: readers,
  listRuns: readers,
  // Runs of every task without their output: viewers read it even with output hidden from them.
  listAllRuns: readers,
  getRun: readers,
  getRunOutput: readers,
  streamTaskEvents: readers,
  exportTasks: readers,
  getMetrics: ['admin', 'operator', 'viewer', 'metrics'],
  submitTask: runners,
  stopTask: runners,
  killRun: runners,
  pauseTask: runners,
  resumeTask: runners,
  runTaskNow: runners,
  deleteTask: adminOnly,
  backupStore: adminOnly,
  importTasks: adminOnly,
  createToken: adminOnly,
  listTokens: adminOnly,
  revokeToken: adminOnly,
  listAudit: adminOnly,
  // Logging in and out, and asking who one is: every token may (a metrics token's session reads /metrics alone).
  createSession: [...roles],
  getSession: [...roles],
  deleteSession: [...roles],
};

/** Whether `role` may call the route `operationId` (undefined: no route matched, e.g. a 404: let the router answer). */
export function mayCall(role: Role, operationId: string | undefined, options: { hideOutputFromViewers: boolean }): boolean {
  if (role === 'admin' || operationId === undefined) return true;
  if (role === 'viewer' && options.hideOutputFromViewers && showsOutput.has(operationId)) return false;
  return (allowedRoles[operationId] ?? adminOnly).includes(role);
}
