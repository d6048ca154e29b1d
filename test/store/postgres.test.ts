/** The PostgreSQL store: the conformance suite against a real server, each test in a schema of its own. */
import { createPool, describeServer } from '../../src/store/postgres/connection.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-store.js';
import { describe, expect, it } from 'vitest';
import { connectForTests, testPostgresUrl, useTestSchema } from '../support/postgres.js';
import { describeTaskStoreConformance } from './conformance.js';

describeTaskStoreConformance('PostgresTaskStore', async () => {
  const schema = await useTestSchema();
  const store = await PostgresTaskStore.open({ url: testPostgresUrl, schema, poolSize: 4 });
  const others: PostgresTaskStore[] = [];
  return {
    store,
    connect: () => {
      // A pool of its own over the migrated schema, as a second node has.
      const other = new PostgresTaskStore({ pool: createPool({ url: testPostgresUrl, poolSize: 2 }), schema, server: describeServer(testPostgresUrl) });
      others.push(other);
      return other;
    },
    cleanup: async () => {
      for (const other of others) await other.close();
      await store.close();
    },
  };
});

describe('the pool of connections', () => {
  it('outlives a connection the server ends while it is handed out and runs no query (an unhandled error ended a daemon so)', async () => {
    const pool = createPool({ url: testPostgresUrl, poolSize: 1 });
    try {
      const client = await pool.connect();
      const { pid } = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!;
      const ended = new Promise((resolve) => client.once('end', resolve));
      const admin = await connectForTests();
      try {
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      } finally {
        await admin.end();
      }
      await ended;
      client.release(true);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
