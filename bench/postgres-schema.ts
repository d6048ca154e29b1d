/**
 * A PostgreSQL schema of the benchmark's own: a random name, so a run never touches a schema
 * someone uses, dropped when the measurement ends (and at exit, however the bench exits).
 * The daemons create its tables themselves (their migration), as nodes of a cluster do.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchSchema {
  /** The --store URL naming the schema, for every node. */
  readonly storeUrl: string;
  readonly name: string;
  drop(): Promise<void>;
}

/** Schemas made by this process and not yet dropped, dropped at exit (see dropAtExit). */
const undropped = new Map<string, string>();

process.on('exit', () => {
  // An exit handler cannot wait for a promise: psql drops what is left, synchronously.
  for (const [name, serverUrl] of undropped) {
    spawnSync('psql', [serverUrl, '-qc', `DROP SCHEMA IF EXISTS "${name}" CASCADE`], { stdio: 'ignore', timeout: 10_000 });
  }
});

/**
 * Checks that `url` is a postgres:// URL without a schema of its own (the bench makes and
 * drops its schemas; it never drops one it did not make); a message saying what to pass if not.
 */
export function checkStoreUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--store ${url}: not a URL; pass e.g. --store postgres://postgres@127.0.0.1:5432/test`;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    return `--store ${url}: the cluster bench measures PostgreSQL; pass a postgres://user@host/database URL (SQLite is measured beside it anyway)`;
  }
  if (parsed.searchParams.has('schema')) {
    return `--store ${url}: leave out ?schema=; the bench creates a schema with a random name for each measurement and drops it afterwards`;
  }
  return undefined;
}

/** Makes sure the server answers and names a fresh schema on it (the first node creates it). */
export async function freshSchema(serverUrl: string): Promise<BenchSchema> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    const existing = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
    if (existing.rowCount !== 0) throw new Error(`schema ${name} exists already; run the bench again`);
  } catch (error) {
    throw new Error(`PostgreSQL at ${describe(serverUrl)} did not answer (${(error as Error).message}); is the server running, and the database there?`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
  undropped.set(name, serverUrl);
  const storeUrl = new URL(serverUrl);
  storeUrl.searchParams.set('schema', name);
  return {
    storeUrl: storeUrl.toString(),
    name,
    drop: async () => {
      const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
        undropped.delete(name);
      } finally {
        await admin.end();
      }
    },
  };
}

/** host:port/database, never the password. */
function describe(serverUrl: string): string {
  const url = new URL(serverUrl);
  return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
}
