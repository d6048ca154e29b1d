/** The PostgreSQL store: the conformance suite against a real server, each test in a schema of its own. */
import { createPool, describeServer } from '../../src/store/postgres/connection.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-store.js';
import { testPostgresUrl, useTestSchema } from '../support/postgres.js';
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
