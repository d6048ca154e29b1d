/**
 * The SQLite schema, as an ordered list of migrations. `PRAGMA user_version` records how
 * many have been applied; a daemon opening an older data directory applies the rest.
 */

export const migrations: readonly string[] = [
  `
  CREATE TABLE tasks (
    -- submission order, for listing; a plain rowid alias (AUTOINCREMENT would cost a write per insert)
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    script TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- the run in progress, while status = 'Executing'
    current_run INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    -- when the engine must next act on the task; NULL when never
    next_run_at INTEGER,
    last_status_updated INTEGER NOT NULL,
    version INTEGER NOT NULL,
    last_run INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX tasks_due ON tasks (next_run_at) WHERE next_run_at IS NOT NULL;
  CREATE INDEX tasks_status ON tasks (status, seq);

  CREATE TABLE runs (
    task_id TEXT NOT NULL,
    run INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    outcome TEXT NOT NULL,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    stdout TEXT NOT NULL DEFAULT '',
    stdout_bytes INTEGER NOT NULL DEFAULT 0,
    stdout_truncated INTEGER NOT NULL DEFAULT 0,
    stderr TEXT NOT NULL DEFAULT '',
    stderr_bytes INTEGER NOT NULL DEFAULT 0,
    stderr_truncated INTEGER NOT NULL DEFAULT 0,
    output_cap INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, run)
  ) WITHOUT ROWID;
  `,
  // The optional bound on each run's wall time.
  `
  ALTER TABLE tasks ADD COLUMN timeout TEXT;
  ALTER TABLE tasks ADD COLUMN timeout_ms INTEGER;
  `,
];
