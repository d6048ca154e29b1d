/**
 * The PostgreSQL store's foundation against a real server (see test/support/postgres.ts):
 * opening the pool, creating and upgrading the schema under the advisory lock, refusing a
 * schema newer than the build, and the error when no server answers.
 */
import { describe, expect, it, onTestFinished as onFinished } from 'vitest';
import { SchedulerError } from '../../src/core/errors.js';
import { openPool } from '../../src/store/postgres/connection.js';
import { migrateSchema, migrationLockKey } from '../../src/store/postgres/migrate.js';
import { knownSchemaVersion, migrations, type PostgresMigration } from '../../src/store/postgres/migrations.js';
import { openPostgresDatabase } from '../../src/store/postgres/open-database.js';
import { connectForTests, testPostgresUrl, useTestSchema } from '../support/postgres.js';

/** A pool for one test, closed when the test ends. */
async function testPool(poolSize = 2) {
  const pool = await openPool({ url: testPostgresUrl, poolSize });
  onFinished(() => pool.end());
  return pool;
}

async function tablesOf(schema: string): Promise<string[]> {
  const client = await connectForTests();
  try {
    const result = await client.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema],
    );
    return result.rows.map((row) => row.table_name);
  } finally {
    await client.end();
  }
}

async function versionRows(pool: Awaited<ReturnType<typeof testPool>>, schema: string): Promise<number[]> {
  const result = await pool.query<{ version: number }>(`SELECT version FROM "${schema}".schema_version ORDER BY version`);
  return result.rows.map((row) => row.version);
}

const allVersions = migrations.map((migration) => migration.version);

describe('PostgreSQL migrations', () => {
  it('numbers the migrations 1, 2, ... in order', () => {
    expect(allVersions).toEqual(allVersions.map((_, index) => index + 1));
    expect(knownSchemaVersion).toBe(allVersions.length);
  });

  it('creates the tables in a fresh schema and records its version', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    const result = await migrateSchema(pool, schema);
    expect(result).toEqual({ from: 0, to: knownSchemaVersion, applied: allVersions });
    expect(await tablesOf(schema)).toEqual(['audit', 'events', 'nodes', 'output_usage', 'run_requests', 'runs', 'schema_version', 'sessions', 'tasks', 'tokens']);
    expect(await versionRows(pool, schema)).toEqual(allVersions);
  });

  it('does nothing when the schema is already at this version', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    await migrateSchema(pool, schema);
    const again = await migrateSchema(pool, schema);
    expect(again).toEqual({ from: knownSchemaVersion, to: knownSchemaVersion, applied: [] });
    expect(await versionRows(pool, schema)).toEqual(allVersions);
  });

  it('applies only the migrations a schema lacks', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    await migrateSchema(pool, schema);
    const next: PostgresMigration = {
      version: knownSchemaVersion + 1,
      describe: 'a column added by a later build',
      sql: (s) => `ALTER TABLE ${s}.tasks ADD COLUMN later integer`,
    };
    const result = await migrateSchema(pool, schema, [...migrations, next]);
    expect(result).toEqual({ from: knownSchemaVersion, to: next.version, applied: [next.version] });
    const column = await pool.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks' AND column_name = 'later'`, [schema]);
    expect(column.rowCount).toBe(1);
  });

  // The schema absent, or created beforehand by an administrator (empty, as after CREATE
  // SCHEMA and its grants): the race is on the schema in one case, on the tables in the other.
  it.each(['absent', 'created beforehand'])('migrates once when ten nodes start at once, each on its own connection (schema %s)', async (start) => {
    const schema = await useTestSchema();
    const pool = await testPool(10);
    if (start === 'created beforehand') await pool.query(`CREATE SCHEMA "${schema}"`);
    // Ten connections held open first, so the ten migrations really overlap instead of
    // queueing for a connection of the pool.
    const clients = await Promise.all(Array.from({ length: 10 }, () => pool.connect()));
    for (const client of clients) client.release();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => migrateSchema(pool, schema)));
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    expect(failures).toEqual([]);
    const applied = results.map((result) => (result.status === 'fulfilled' ? result.value.applied : []));
    expect(applied.filter((versions) => versions.length > 0)).toEqual([allVersions]);
    expect(await versionRows(pool, schema)).toEqual(allVersions);
  });

  it('refuses a schema newer than this build knows, saying what to do', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    await migrateSchema(pool, schema);
    const newer = knownSchemaVersion + 5;
    await pool.query(`INSERT INTO "${schema}".schema_version (version, describe) VALUES ($1, 'from a newer build')`, [newer]);
    const refusal = await migrateSchema(pool, schema).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(SchedulerError);
    expect((refusal as SchedulerError).code).toBe('store_unavailable');
    expect((refusal as SchedulerError).message).toContain(`"${schema}" is at version ${newer}`);
    expect((refusal as SchedulerError).message).toContain(`this build of scheduler knows (${knownSchemaVersion})`);
    expect((refusal as SchedulerError).message).toContain('upgrade this scheduler');
    // Nothing was changed by the refused start.
    expect(await versionRows(pool, schema)).toEqual([...allVersions, newer]);
    await expect(openPostgresDatabase({ url: testPostgresUrl, schema })).rejects.toThrow(`is at version ${newer}`);
  });

  it('records one run per attempt of a fire, whatever the caller does', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    await migrateSchema(pool, schema);
    const insert = `INSERT INTO "${schema}".runs (task_id, run, scheduled_at, attempt, outcome) VALUES ('t1', $1, 1000, 1, 'succeeded')`;
    await pool.query(insert, [1]);
    await expect(pool.query(insert, [2])).rejects.toMatchObject({ code: '23505', constraint: 'runs_one_per_fire_attempt' });
  });

  it('keeps the total of kept output bytes as runs are written and deleted', async () => {
    const schema = await useTestSchema();
    const pool = await testPool();
    await migrateSchema(pool, schema);
    const usage = async () => Number((await pool.query(`SELECT bytes FROM "${schema}".output_usage`)).rows[0].bytes);
    await pool.query(`INSERT INTO "${schema}".runs (task_id, run, scheduled_at, outcome, output_bytes) VALUES ('t1', 1, 1, 'succeeded', 30), ('t1', 2, 2, 'succeeded', 12)`);
    expect(await usage()).toBe(42);
    await pool.query(`UPDATE "${schema}".runs SET output_bytes = 5 WHERE run = 1`);
    expect(await usage()).toBe(17);
    await pool.query(`DELETE FROM "${schema}".runs WHERE run = 2`);
    expect(await usage()).toBe(5);
  });

  it('takes the same lock for the same schema on every node, another for another schema', () => {
    expect(migrationLockKey('scheduler')).toEqual(migrationLockKey('scheduler'));
    expect(migrationLockKey('scheduler')[1]).not.toBe(migrationLockKey('scheduler_b')[1]);
    for (const key of migrationLockKey('scheduler')) expect(key).toBe(key | 0);
  });

  it('refuses a schema name that would need quoting', async () => {
    const pool = await testPool();
    await expect(migrateSchema(pool, 'Robert"; DROP TABLE x; --')).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('opens the pool and migrates in one call, with the pool size asked for', async () => {
    const schema = await useTestSchema();
    const database = await openPostgresDatabase({ url: testPostgresUrl, schema, poolSize: 3 });
    onFinished(() => database.pool.end());
    expect(database.migration.to).toBe(knownSchemaVersion);
    expect(database.pool.options.max).toBe(3);
  });
});

describe('PostgreSQL connection', () => {
  it('names the server and what to check when nothing listens, never the password', async () => {
    const failure = await openPool({ url: 'postgres://postgres:s3cret-word@127.0.0.1:1/test' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SchedulerError);
    expect((failure as SchedulerError).code).toBe('store_unavailable');
    expect((failure as SchedulerError).message).toBe(
      'cannot reach PostgreSQL at 127.0.0.1:1/test: connection refused; check that the server is running and listens on that host and port',
    );
    expect(JSON.stringify(failure)).not.toContain('s3cret');
  });

  it('says which database is missing', async () => {
    const failure = await openPool({ url: 'postgres://postgres@127.0.0.1:5432/no_such_database_here' }).catch((error: unknown) => error);
    expect((failure as SchedulerError).message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:5432\/no_such_database_here: .*no_such_database_here.* does not exist; create it/);
  });

  it('refuses an address that is not a postgres:// URL, or a pool size below one', async () => {
    await expect(openPool({ url: 'mysql://root@localhost/db' })).rejects.toThrow('must start with postgres://');
    await expect(openPool({ url: 'not a url' })).rejects.toThrow('not a URL');
    await expect(openPool({ url: testPostgresUrl, poolSize: 0 })).rejects.toThrow('pool size');
  });
});
