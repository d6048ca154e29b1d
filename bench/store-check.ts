/**
 * What checking the database at start costs at a million tasks: builds a database with the
 * store's own schema (one run per task, scripts and output of a realistic size) in one
 * transaction, then times each candidate check on it, cold (first read after opening) and
 * warm. Prints the figures; asserts nothing. Not part of `npm run bench` (it writes about
 * a gigabyte): `npm run build && node dist/bench/store-check.js [TASKS]`.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDatabaseAtStart } from '../src/store/sqlite/start-check.js';
import { SqliteTaskStore } from '../src/store/sqlite/sqlite-store.js';

const tasks = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'scheduler-bench-check-'));
const path = join(dir, 'scheduler.db');

try {
  // The schema, exactly as the daemon makes it.
  await new SqliteTaskStore({ path }).close();
  const built = time(() => fill(path, tasks));
  const bytes = statSync(path).size;
  console.log(`${tasks.toLocaleString('en')} tasks (one run each): ${(bytes / 1e6).toFixed(0)} MB, built in ${seconds(built)}`);

  const checks: Array<[string, (db: Database.Database) => unknown]> = [
    ['PRAGMA quick_check', (db) => db.pragma('quick_check')],
    ['PRAGMA integrity_check', (db) => db.pragma('integrity_check')],
    ['the start check (header, schema, first and last pages of each table and index)', (db) => checkDatabaseAtStart(db)],
  ];
  for (const [name, check] of checks) {
    // Cold: a fresh connection (the OS page cache may still hold the file: this is the
    // cost after a restart, not after a reboot).
    const db = new Database(path, { readonly: true });
    const cold = time(() => check(db));
    const warm = time(() => check(db));
    db.close();
    console.log(`${name}: ${seconds(cold)} first, ${seconds(warm)} again`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Inserts `count` tasks and a finished run of each, in one transaction. */
function fill(file: string, count: number): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const script = `echo "backing up" && tar -czf /var/backups/home-$(date +%F).tgz /home/someone/projects 2>&1 | tail -n 5`;
  db.exec(`
    BEGIN;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
    INSERT INTO tasks (id, type, time, interval_ms, script, created_at, status, next_run_at, last_status_updated, version, last_run, lang)
      SELECT 'task-' || i, 'cron', '1h', 3600000, '${script}' || i, 1700000000000 + i, 'WaitForNextExecution',
        1700003600000 + i, 1700000000000 + i, 2, 1, 'bash' FROM n;
    INSERT INTO runs (task_id, run, scheduled_at, started_at, finished_at, outcome, exit_code, stdout, stdout_bytes, output_bytes)
      SELECT id, 1, created_at, created_at + 2, created_at + 900, 'succeeded', 0, 'backed up ' || seq || ' files\n', 20, 20 FROM tasks;
    COMMIT;
  `);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function time(work: () => unknown): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}
