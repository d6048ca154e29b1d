/**
 * Which buttons a role may press, as the daemon's table of roles decides (src/server/roles.ts;
 * test/dashboard/pure-parts.test.ts checks the two agree): the daemon refuses the rest with
 * 403 anyway; the dashboard disables them and says why.
 */
import type { Role } from './views.js';

/** What the dashboard's buttons do: each a route of the API. */
export type Command = 'submit' | 'stop' | 'kill' | 'pause' | 'resume' | 'run' | 'delete';

/** The route (operationId) each command calls. */
export const commandRoutes: Readonly<Record<Command, string>> = {
  submit: 'submitTask',
  stop: 'stopTask',
  kill: 'killRun',
  pause: 'pauseTask',
  resume: 'resumeTask',
  run: 'runTaskNow',
  delete: 'deleteTask',
};

const commandsOf: Record<Role, readonly Command[]> = {
  admin: ['submit', 'stop', 'kill', 'pause', 'resume', 'run', 'delete'],
  operator: ['submit', 'stop', 'kill', 'pause', 'resume', 'run'],
  viewer: [],
  metrics: [],
};

export const mayDo = (role: Role, command: Command): boolean => commandsOf[role].includes(command);
export const refusedBecause = (role: Role, what: string): string => `your role, ${role}, may not ${what}; ask an admin for an operator or admin token`;
