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
  // Head-and-tail output retention, and the bound on all kept output. `*_truncated` stays
  // for older readers; `*_dropped` says how many bytes were dropped and where. Output kept
  // before this migration was the stream's head: its dropped bytes all came after it.
  // `output_bytes` (the kept bytes of both streams) is summed into `output_usage` by
  // triggers, so checking the bound costs one row read.
  `
  ALTER TABLE runs ADD COLUMN stdout_dropped INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN stdout_dropped_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN stderr_dropped INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN stderr_dropped_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE runs ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;
  UPDATE runs SET
    stdout_dropped = CASE WHEN stdout_truncated = 1 THEN stdout_bytes - octet_length(stdout) ELSE 0 END,
    stdout_dropped_at = CASE WHEN stdout_truncated = 1 THEN octet_length(stdout) ELSE 0 END,
    stderr_dropped = CASE WHEN stderr_truncated = 1 THEN stderr_bytes - octet_length(stderr) ELSE 0 END,
    stderr_dropped_at = CASE WHEN stderr_truncated = 1 THEN octet_length(stderr) ELSE 0 END,
    output_bytes = octet_length(stdout) + octet_length(stderr);
  CREATE INDEX runs_with_output ON runs (finished_at) WHERE output_bytes > 0 AND finished_at IS NOT NULL;

  CREATE TABLE output_usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
  INSERT INTO output_usage (id, bytes) SELECT 1, COALESCE(SUM(output_bytes), 0) FROM runs;
  CREATE TRIGGER runs_output_inserted AFTER INSERT ON runs WHEN NEW.output_bytes != 0 BEGIN
    UPDATE output_usage SET bytes = bytes + NEW.output_bytes WHERE id = 1;
  END;
  CREATE TRIGGER runs_output_updated AFTER UPDATE OF output_bytes ON runs WHEN NEW.output_bytes != OLD.output_bytes BEGIN
    UPDATE output_usage SET bytes = bytes + NEW.output_bytes - OLD.output_bytes WHERE id = 1;
  END;
  CREATE TRIGGER runs_output_deleted AFTER DELETE ON runs WHEN OLD.output_bytes != 0 BEGIN
    UPDATE output_usage SET bytes = bytes - OLD.output_bytes WHERE id = 1;
  END;
  `,
  // Schedules beyond the fixed interval: the parsed schedule as JSON (NULL for tasks of
  // earlier versions, whose schedule follows from type, interval_ms and created_at), and the
  // zone its times were read in.
  `
  ALTER TABLE tasks ADD COLUMN schedule TEXT;
  ALTER TABLE tasks ADD COLUMN timezone TEXT;
  `,
  // Overlap rules and retries: the task's policy as JSON (NULL: skip, no retries); what an
  // executing or waiting task knows beyond its columns (the fire a run serves, its attempt,
  // a queued fire, a pending retry) as JSON; and each run's attempt.
  `
  ALTER TABLE tasks ADD COLUMN policy TEXT;
  ALTER TABLE tasks ADD COLUMN state_detail TEXT;
  ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
  `,
  // The script's language (bash for tasks of earlier versions).
  `
  ALTER TABLE tasks ADD COLUMN lang TEXT NOT NULL DEFAULT 'bash';
  `,
  // Where and how runs execute (environment, directory, user, queue, sandbox, limits) as
  // JSON (NULL: the defaults); and, per run, the resource limit it hit and how long it
  // waited for a free slot.
  `
  ALTER TABLE tasks ADD COLUMN execution TEXT;
  ALTER TABLE runs ADD COLUMN limit_hit TEXT;
  ALTER TABLE runs ADD COLUMN waited_ms INTEGER;
  `,
  // A run recorded while it waits for a free slot: 1 until its script really starts (then
  // started_at is set), so that a daemon restarted after a crash starts it instead of
  // recording it as interrupted. Rows written before this migration were all started.
  `
  ALTER TABLE runs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
  `,
  // How many tasks of each type are in each status, kept by triggers (new tasks, since
  // migration 14, by the inserts themselves), for the metrics: a COUNT over a million rows
  // would hold the event loop for tens of milliseconds per scrape.
  `
  CREATE TABLE task_counts (type TEXT NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (type, status)) WITHOUT ROWID;
  INSERT INTO task_counts (type, status, count) SELECT type, status, COUNT(*) FROM tasks GROUP BY type, status;
  CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (type, status, count) VALUES (new.type, new.status, 1)
      ON CONFLICT (type, status) DO UPDATE SET count = count + 1;
  END;
  CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET count = count - 1 WHERE type = old.type AND status = old.status;
  END;
  CREATE TRIGGER task_counts_status AFTER UPDATE OF status ON tasks WHEN old.status <> new.status BEGIN
    UPDATE task_counts SET count = count - 1 WHERE type = old.type AND status = old.status;
    INSERT INTO task_counts (type, status, count) VALUES (new.type, new.status, 1)
      ON CONFLICT (type, status) DO UPDATE SET count = count + 1;
  END;
  `,
  // Tokens made with `scheduler token create`: a name, a role, and the token's SHA-256 only.
  `
  CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // The audit log: every change asked of the daemon, the newest kept.
  `
  CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, token TEXT, role TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
    operation TEXT, task_id TEXT, status INTEGER NOT NULL, remote TEXT NOT NULL);
  `,
  // Browsers' sessions (POST /api/session): the SHA-256 of each id, never the id; by expiry, to prune them.
  `
  CREATE TABLE sessions (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, token_check TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX sessions_expiry ON sessions (expires_at);
  `,
  // The history across tasks (GET /api/runs): runs newest first by the fire they serve, and
  // of one outcome, so that a page reads its own rows and no more however many runs there
  // are. The entries of an index of a WITHOUT ROWID table end with its primary key anyway;
  // written out, (task_id, run) breaks ties in the listing's order. The listing of tasks by
  // id prefix reads the unique index on id (in byte order, BINARY); with a status, this one,
  // else a status rare under the prefix would have every task under it read to fill a page.
  `
  CREATE INDEX runs_by_fire ON runs (scheduled_at, task_id, run);
  CREATE INDEX runs_by_outcome ON runs (outcome, scheduled_at, task_id, run);
  CREATE INDEX tasks_by_status_id ON tasks (status, id);
  `,
  // New tasks are counted by the write that inserts them, once per batch and type, rather
  // than by a trigger's statement per row: that statement was a sixth of a submit's insert
  // (docs/benchmarks.md, figure 5). Status changes and deletes keep their triggers.
  `
  DROP TRIGGER task_counts_insert;
  `,
];
