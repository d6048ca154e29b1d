/**
 * Brings a schema up to this build's version when a node starts. Everything happens in one
 * transaction holding a PostgreSQL advisory lock keyed by the schema's name: nodes starting
 * at once queue on the lock, the first applies the migrations, the others find them
 * recorded and apply nothing. A schema newer than this build is refused: an older node
 * writing rows it does not fully understand could lose what the newer one records.
 */
import type pg from 'pg';
import { SchedulerError } from '../../core/errors.js';
import { migrations, type PostgresMigration } from './migrations.js';
import { quotedSchemaName } from './schema-name.js';

/** What migrateSchema found and did. */
export interface MigrationResult {
  /** The version recorded before this call. */
  from: number;
  /** The version recorded after it. */
  to: number;
  /** The versions this call applied (empty when another node, or an earlier start, had). */
  applied: number[];
}

/** Creates or upgrades `schema` to the newest migration of `list` (this build's by default). */
export async function migrateSchema(
  pool: pg.Pool,
  schema: string,
  list: readonly PostgresMigration[] = migrations,
): Promise<MigrationResult> {
  const s = quotedSchemaName(schema);
  const known = list.at(-1)?.version ?? 0;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      const [classKey, schemaKey] = migrationLockKey(schema);
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [classKey, schemaKey]);
      // Created only when absent: CREATE SCHEMA IF NOT EXISTS would still ask for the CREATE
      // privilege on the database, which a user given only a schema made by an administrator lacks.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
        version integer PRIMARY KEY,
        describe text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
      const found = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.schema_version`);
      const from = found.rows[0]?.version ?? 0;
      if (from > known) throw newerSchema(schema, from, known);
      const applied: number[] = [];
      for (const migration of list) {
        if (migration.version <= from) continue;
        await client.query(migration.sql(s));
        await client.query(`INSERT INTO ${s}.schema_version (version, describe) VALUES ($1, $2)`, [migration.version, migration.describe]);
        applied.push(migration.version);
      }
      await client.query('COMMIT');
      return { from, to: Math.max(from, known), applied };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  } finally {
    client.release();
  }
}

// The first key of the advisory lock: the same for every schema ("schd" in ASCII), so that
// the lock cannot collide with another application's single-key locks on a shared server.
const migrationLockClass = 0x73636864;

/**
 * The two 32-bit keys of the migration lock for `schema`: a constant class and an FNV-1a
 * hash of the name. Every node computes the same pair; two schemas colliding would only make
 * their migrations wait for each other.
 */
export function migrationLockKey(schema: string): [number, number] {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(schema)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  // PostgreSQL's int4 is signed.
  return [migrationLockClass, hash | 0];
}

function newerSchema(schema: string, found: number, known: number): SchedulerError {
  return new SchedulerError(
    'store_unavailable',
    `the PostgreSQL schema "${schema}" is at version ${found}, newer than this build of scheduler knows (${known}): ` +
      'another node of a newer version has upgraded it; upgrade this scheduler to that version (never downgrade a shared schema)',
  );
}
