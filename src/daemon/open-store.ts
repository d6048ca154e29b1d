/**
 * The store the daemon keeps its tasks in: SQLite in the data directory unless --store names
 * a PostgreSQL server, which several daemons may then share; with it, the registry of the
 * daemons (nodes) that share it.
 */
import { join } from 'node:path';
import { systemClock } from '../engine/system-clock.js';
import type { ClusterChanges, RunOwners } from '../store/cluster-changes.js';
import type { FireClaims } from '../store/fire-claims.js';
import { LocalNodeRegistry } from '../store/local-node-registry.js';
import type { NodeRegistry } from '../store/node-registry.js';
import type { RunLeases, RunRequests } from '../store/run-leases.js';
import type { TaskStore, SoleWriter } from '../store/task-store.js';
import type { DaemonConfig } from './daemon-config.js';

/** An open store, how GET /api/status names it, and the nodes that share it. */
export interface OpenedStore {
  store: TaskStore;
  about: { kind: 'sqlite' | 'postgres'; location: string };
  /** The nodes sharing the store (this one alone on SQLite). */
  nodes: NodeRegistry;
  /** The leases of this node's runs, when the store is shared (PostgreSQL). */
  leases?: RunLeases & RunRequests;
  /** Claims of due fires, when the store is shared. */
  claims?: FireClaims;
  /** The changes the other nodes make, and whose runs are whose, when the store is shared. */
  cluster?: { changes: ClusterChanges; runs: RunOwners };
  /** The changes that leave a task's version as it is, when this daemon alone writes the store (SQLite). */
  soleWriter?: SoleWriter;
  /** What to start once the daemon serves: SQLite's full check of its file (see SqliteStoreOptions.backgroundCheck). */
  whenServing?: () => void;
}

/** The node a shared store works for: its id (new at each start) and home (its data directory's id). */
export interface StoreNode {
  nodeId: string;
  home: string;
}

/**
 * How often a node reads the changes the others made when no notification came (the backstop
 * for notifications lost while its listening connection was down).
 */
const clusterChangesPollMs = 500;
/** How long the record of a change is kept: longer than a stream's events are retained (the event hub's retainMs). */
const clusterChangesRetainMs = 10 * 60_000;

/** Opens (and creates or migrates) the store `config` names. */
export async function openStore(config: DaemonConfig, node: StoreNode): Promise<OpenedStore> {
  if (config.store) {
    // Loaded only when asked for: a daemon on SQLite never loads the PostgreSQL driver.
    const { PostgresTaskStore } = await import('../store/postgres/postgres-store.js');
    const { describeServer } = await import('../store/postgres/connection.js');
    const { PostgresChangeListener } = await import('../store/postgres/change-listener.js');
    const store = await PostgresTaskStore.open({
      url: config.store.url,
      schema: config.store.schema,
      poolSize: config.storePoolSize,
      owner: { ...node, leaseMs: config.leaseMs },
    });
    return {
      store,
      leases: store,
      claims: store,
      cluster: {
        // Its own connection, apart from the pool: LISTEN holds a session.
        changes: new PostgresChangeListener({ url: config.store.url, schema: config.store.schema, pollMs: clusterChangesPollMs, retainMs: clusterChangesRetainMs }),
        runs: store,
      },
      about: { kind: 'postgres', location: `${describeServer(config.store.url)} schema ${config.store.schema}` },
      nodes: store.nodeRegistry({ heartbeatIntervalMs: config.nodeHeartbeatMs, now: systemClock.now }),
    };
  }
  const { SqliteTaskStore } = await import('../store/sqlite/sqlite-store.js');
  const path = join(config.dataDir, 'scheduler.db');
  // Checks the file as it opens it: a damaged one is refused here, with what to do.
  const store = new SqliteTaskStore({ path, durability: config.durability });
  // The data directory's lock makes this daemon the file's only user: it is the only node.
  return {
    store,
    about: { kind: 'sqlite', location: path },
    nodes: new LocalNodeRegistry(systemClock.now),
    soleWriter: store,
    // The full check reads the whole file: not before the daemon serves, and what it finds
    // then turns a serving daemon unhealthy (503) rather than racing with its start.
    whenServing: () => store.startBackgroundCheck(),
  };
}
