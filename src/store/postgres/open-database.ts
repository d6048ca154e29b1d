/**
 * What a node does with PostgreSQL before it serves: open the pool, then bring the schema
 * to this build's version (or refuse a newer one). The PostgreSQL TaskStore, still to come,
 * is built on the pool this returns.
 */
import type pg from 'pg';
import { openPool, type PostgresConnectionOptions } from './connection.js';
import { migrateSchema, type MigrationResult } from './migrate.js';
import { defaultSchemaName } from './schema-name.js';

/** Where the store lives: the server, the pool's size, the schema. */
export interface PostgresDatabaseOptions extends PostgresConnectionOptions {
  /** The schema (namespace) of the store's tables; `scheduler` by default. */
  schema?: string;
}

/** An open, migrated database. */
export interface PostgresDatabase {
  pool: pg.Pool;
  schema: string;
  migration: MigrationResult;
}

/** Opens the pool and migrates the schema; the pool is closed again if migrating fails. */
export async function openPostgresDatabase(options: PostgresDatabaseOptions): Promise<PostgresDatabase> {
  const schema = options.schema ?? defaultSchemaName;
  const pool = await openPool(options);
  try {
    return { pool, schema, migration: await migrateSchema(pool, schema) };
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
}
