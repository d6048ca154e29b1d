/**
 * The PostgreSQL schema (namespace) the store's tables live in. Every node of a cluster
 * names the same one; tests give each test its own, so they never see each other's rows.
 */
import { SchedulerError } from '../../core/errors.js';

/** The schema used when none is named. */
export const defaultSchemaName = 'scheduler';

// Lower-case, unquoted-identifier shape, within PostgreSQL's 63-byte limit: the name is
// spliced into SQL (identifiers cannot be bound as parameters), so only names that need no
// quoting are accepted, and quoting is still applied for safety.
const schemaNamePattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name checked and quoted for SQL, or a SchedulerError saying what is allowed. */
export function quotedSchemaName(name: string): string {
  if (!schemaNamePattern.test(name)) {
    throw new SchedulerError(
      'invalid_request',
      `invalid PostgreSQL schema name ${JSON.stringify(name)}: use lower-case letters, digits and underscores (at most 63, not starting with a digit)`,
    );
  }
  return `"${name}"`;
}
