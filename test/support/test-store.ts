/**
 * Which store the end-to-end daemons keep their tasks in. SCHEDULER_TEST_STORE picks it:
 * `sqlite` (the default: the database file in the data directory, as a daemon without
 * --store) or `postgres` (the test server of postgres.ts, a schema of its own per data
 * directory). The schema is derived from the data directory's path, so a daemon restarted
 * on the same directory (the durability tests) finds the tasks its predecessor kept, and
 * daemons on different directories never see each other's rows.
 */
import { createHash } from 'node:crypto';
import { testPostgresUrl } from './postgres.js';

/** A store the harness can give a daemon. */
export type TestStoreKind = 'sqlite' | 'postgres';

/** The store SCHEDULER_TEST_STORE names; a value it does not know fails, saying which it knows. */
export function testStoreKind(): TestStoreKind {
  const value = process.env.SCHEDULER_TEST_STORE ?? 'sqlite';
  if (value === 'sqlite' || value === 'postgres') return value;
  throw new Error(`SCHEDULER_TEST_STORE=${value}: the end-to-end tests know "sqlite" (the default) and "postgres"`);
}

/** The schema of the daemons on `dataDir`: `e2e_` and a hash of the path, the same at every start. */
export function schemaForDataDir(dataDir: string): string {
  return `e2e_${createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
}

/** The test server's URL with `?schema=NAME`, the form `scheduler daemon --store` takes. */
export function postgresStoreUrl(schema: string): string {
  const url = new URL(testPostgresUrl);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** The schema a `--store` URL names (the daemon's default, `scheduler`, when it names none). */
export function schemaOfStoreUrl(storeUrl: string): string {
  return new URL(storeUrl).searchParams.get('schema') ?? 'scheduler';
}

/**
 * What `scheduler kill ID` prints for run 1 of `id` killed, the task then at `status`: on
 * PostgreSQL it also names the node the run executed on (`on node HOST-PID-RANDOM`).
 */
export function killedLine(id: string, status: string): RegExp {
  const node = testStoreKind() === 'postgres' ? ' on node \\S+' : '';
  return new RegExp(`^killed run 1 of ${id}${node}; status ${status}\\n$`);
}
