/**
 * Tests against a real PostgreSQL, never a mock. The server is named by
 * SCHEDULER_TEST_POSTGRES (default: the local server, as .ci/run starts it); each test gets
 * a schema of its own with a random name, dropped when the test ends, so tests running at
 * once never see each other's rows. A server that does not answer fails the test with a
 * message saying how to start one: these tests are never skipped.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { onTestFinished } from 'vitest';

/** The server the tests use. */
export const testPostgresUrl = process.env.SCHEDULER_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test uses: `test_` and 16 random hex digits. */
export function randomSchemaName(): string {
  return `test_${randomBytes(8).toString('hex')}`;
}

/**
 * A schema name for this test, dropped (with everything in it) when the test ends. The
 * schema itself is not created: creating it is the migration's job, which tests check.
 */
export async function useTestSchema(): Promise<string> {
  const schema = randomSchemaName();
  const admin = await connectForTests();
  onTestFinished(async () => {
    try {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });
  return schema;
}

/** A single connection to the test server, or an error saying how to make one answer. */
export async function connectForTests(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testPostgresUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    const where = new URL(testPostgresUrl);
    throw new Error(
      `the PostgreSQL tests need a server at ${where.hostname}:${where.port || '5432'}${where.pathname} ` +
        `(${(error as Error).message}); start one (.ci/run does: pg_ctlcluster <version> main start), ` +
        'or name another with SCHEDULER_TEST_POSTGRES=postgres://user@host:port/database',
      { cause: error },
    );
  }
  return client;
}
