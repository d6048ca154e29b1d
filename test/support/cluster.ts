/**
 * Several real daemons sharing one PostgreSQL schema, for the cluster's end-to-end tests:
 * each on its own data directory (its home), all given the same `--store`: a schema new for
 * the test file, `E2e.sharedPostgresStore()`, dropped once the file's daemons have exited
 * (dropped while they still ran, it once deadlocked with one of them).
 */
import { dataDirId } from '../../src/daemon/data-dir.js';
import type { DaemonProcess } from './daemon.js';
import type { E2e } from './e2e-context.js';

/** A node of a test cluster: its daemon and its home (the id of its data directory, in every run's SCHEDULER_DAEMON_ID). */
export interface ClusterNode {
  daemon: DaemonProcess;
  home: string;
}

/** How long a beforeAll starting a cluster may take. */
export const clusterStartTimeoutMs = 180_000;

/** Starts `count` daemons on `store`, one after the other (the first migrates the schema). */
export async function startNodes(e2e: E2e, store: string, count: number, args: string[] = []): Promise<ClusterNode[]> {
  const nodes: ClusterNode[] = [];
  for (let index = 0; index < count; index++) {
    // Starting a daemon costs a second or two of CPU: with other test files starting theirs on
    // this small machine, give each start room.
    const daemon = await e2e.startDaemon({ args: ['--store', store, ...args], startTimeoutMs: 60_000 });
    nodes.push({ daemon, home: dataDirId(daemon.dataDir) });
  }
  return nodes;
}

/** The node whose home is `home`; fails naming the homes there are. */
export function nodeWithHome(nodes: readonly ClusterNode[], home: string): ClusterNode {
  const node = nodes.find((candidate) => candidate.home === home);
  if (!node) throw new Error(`no node has home ${home}; the nodes are ${nodes.map((n) => n.home).join(', ')}`);
  return node;
}
