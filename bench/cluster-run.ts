/**
 * `npm run bench -- --store postgres://user@host/database [--nodes N]`: the cluster figures
 * (figures/cluster.ts) for SQLite with one daemon, then for PostgreSQL with 1, 2 and 3 nodes
 * (or N alone), each on a fresh schema of a random name, dropped afterwards. All figures
 * come from the same run, so their ratios mean something on a shared machine even when the
 * absolute figures drift.
 */
import { checkStoreUrl } from './postgres-schema.js';
import { measureSetup, type ClusterFigures, type ClusterSetup } from './figures/cluster.js';
import { failedRow, printTable, reportedRow, type Row } from './report.js';

const defaultNodeCounts = [1, 2, 3];
const maxNodes = 8;

/** The set-ups named by `--store URL [--nodes N]`; exits with a message on bad arguments. */
export function clusterSetups(args: string[]): ClusterSetup[] {
  let serverUrl: string | undefined;
  let nodeCounts = defaultNodeCounts;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const value = (): string => {
      const next = args[++index];
      if (next === undefined) usage(`${arg} needs a value`);
      return next;
    };
    if (arg === '--store') serverUrl = value();
    else if (arg.startsWith('--store=')) serverUrl = arg.slice('--store='.length);
    else if (arg === '--nodes' || arg.startsWith('--nodes=')) {
      const text = arg === '--nodes' ? value() : arg.slice('--nodes='.length);
      const count = Number(text);
      if (!Number.isInteger(count) || count < 1 || count > maxNodes) usage(`--nodes ${text}: give a whole number from 1 to ${maxNodes}`);
      nodeCounts = [count];
    } else usage(`${arg}: with --store the bench takes only --nodes N (figure numbers are for the SQLite figures, without --store)`);
  }
  if (serverUrl === undefined) usage('--nodes needs --store postgres://user@host/database');
  const problem = checkStoreUrl(serverUrl);
  if (problem) usage(problem);
  return [
    { label: 'sqlite', nodes: 1 },
    ...nodeCounts.map((nodes) => ({ label: `pg${nodes}`, serverUrl, nodes })),
  ];
}

function usage(message: string): never {
  console.error(`bench: ${message}\nusage: npm run bench -- --store postgres://user@host/database [--nodes N]`);
  process.exit(2);
}

/** Measures each set-up in turn and prints the figures side by side. */
export async function runCluster(setups: ClusterSetup[]): Promise<void> {
  const results: ClusterFigures[] = [];
  const failures: Row[] = [];
  for (const setup of setups) {
    const name = describeSetup(setup);
    console.log(`\n== ${name}`);
    try {
      const figures = await measureSetup(setup);
      for (const line of figures.details) console.log(`   ${line}`);
      results.push(figures);
    } catch (error) {
      console.log(`   not measured: ${(error as Error).message}`);
      failures.push(failedRow(name, error));
    }
  }
  printClusterTable(results, failures);
}

function describeSetup(setup: ClusterSetup): string {
  return setup.serverUrl === undefined ? 'SQLite, 1 daemon' : `PostgreSQL, ${setup.nodes} node${setup.nodes === 1 ? '' : 's'}`;
}

/** The same kind of table as the SQLite figures: each PostgreSQL figure beside SQLite's from this run. */
function printClusterTable(results: ClusterFigures[], failures: Row[]): void {
  const sqlite = results.find((result) => result.setup.serverUrl === undefined);
  const perSec = (value: number) => `${Math.round(value)}/s`;
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const figures: Array<[string, (result: ClusterFigures) => number, (value: number) => string]> = [
    ['fires/s', (result) => result.firesPerSec, perSec],
    ['claim-to-start p99', (result) => result.latency.p99, ms],
    ['submits/s', (result) => result.submitsPerSec, perSec],
  ];
  const rows: Row[] = [];
  for (const [figure, value, format] of figures) {
    for (const result of results) {
      const ours = value(result);
      const name = `${figure}, ${describeSetup(result.setup)}`;
      const base = sqlite && result !== sqlite ? value(sqlite) : Number.NaN;
      if (Number.isNaN(ours)) rows.push(reportedRow(name, 'not measured'));
      else if (Number.isNaN(base)) rows.push(reportedRow(name, format(ours)));
      else rows.push(reportedRow(name, format(ours), `${format(base)} (SQLite)`, `${(ours / base).toFixed(2)}x`));
    }
  }
  rows.push(...failures);
  printTable('Summary (reference: the SQLite daemon of this run; absolute figures drift on a shared machine)', rows);
}
