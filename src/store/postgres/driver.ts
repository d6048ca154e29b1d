/**
 * The PostgreSQL driver, pg, loaded at its first use. The program runs as one bundled file
 * (scripts/build-bundle.ts), into which the PostgreSQL store's modules are inlined although
 * the daemon imports them only for a PostgreSQL store; a static import of pg in them became
 * an import of the bundle itself, which loaded the driver in every command and in every
 * daemon on SQLite (a fifth of a command's start: `scheduler --help` took 345 ms of CPU,
 * 66 ms of it loading pg).
 */
import { createRequire } from 'node:module';
import type Pg from 'pg';

let driver: typeof Pg | undefined;

/** The pg module. */
export function pgDriver(): typeof Pg {
  return (driver ??= createRequire(import.meta.url)('pg') as typeof Pg);
}

/**
 * The type parsers of the store's connections: bigint columns (times in epoch milliseconds,
 * ids, byte counts) read as numbers, every value the store keeps in one being far below
 * 2^53; pg reads them as strings by default.
 */
export const bigintAsNumber = ((oid: number, format?: 'text' | 'binary') => {
  const { types } = pgDriver();
  return oid === types.builtins.INT8 ? Number : types.getTypeParser(oid, format as 'text');
}) as typeof Pg.types.getTypeParser;
