/**
 * The PostgreSQL schema, as a numbered list of migrations. Each is SQL written for one
 * schema (namespace), passed in already quoted; `schema_version` records each applied
 * migration. Times are epoch milliseconds in `bigint`, as in the SQLite store, so that the
 * rows convert the same way and due times compare with the database's clock in one unit
 * (`(extract(epoch from clock_timestamp()) * 1000)::bigint`).
 */

/** One migration: its number (1, 2, ...) and the SQL that applies it in `schema`. */
export interface PostgresMigration {
  version: number;
  describe: string;
  sql: (schema: string) => string;
}

export const migrations: readonly PostgresMigration[] = [
  {
    version: 1,
    describe: 'tasks, runs and the output usage, with run ownership (owner, lease, fence)',
    sql: (s) => `
  CREATE TABLE ${s}.tasks (
    -- submission order, for listing
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    type text NOT NULL,
    time text NOT NULL,
    interval_ms bigint NOT NULL,
    script text NOT NULL,
    lang text NOT NULL DEFAULT 'bash',
    timeout text,
    timeout_ms bigint,
    -- the parsed schedule and the zone its times were read in
    schedule text,
    timezone text,
    -- overlap rules and retries, as JSON
    policy text,
    -- environment, directory, user, queue, sandbox, limits, as JSON
    execution text,
    created_at bigint NOT NULL,
    status text NOT NULL,
    -- the run in progress, while status = 'Executing'
    current_run integer,
    stop_requested integer NOT NULL DEFAULT 0,
    -- when the engine must next act on the task; NULL when never
    next_run_at bigint,
    -- what an executing or waiting task knows beyond its columns, as JSON
    state_detail text,
    last_status_updated bigint NOT NULL,
    version integer NOT NULL,
    last_run integer NOT NULL DEFAULT 0
  );
  CREATE INDEX tasks_due ON ${s}.tasks (next_run_at) WHERE next_run_at IS NOT NULL;
  CREATE INDEX tasks_status ON ${s}.tasks (status, seq);

  CREATE TABLE ${s}.runs (
    task_id text NOT NULL,
    run integer NOT NULL,
    scheduled_at bigint NOT NULL,
    attempt integer NOT NULL DEFAULT 1,
    started_at bigint,
    finished_at bigint,
    outcome text NOT NULL,
    exit_code integer,
    signal text,
    error text,
    limit_hit text,
    waited_ms bigint,
    -- 1 while the run waits for a free slot (its script has not started)
    waiting integer NOT NULL DEFAULT 0,
    stdout text NOT NULL DEFAULT '',
    stdout_bytes bigint NOT NULL DEFAULT 0,
    stdout_truncated integer NOT NULL DEFAULT 0,
    stdout_dropped bigint NOT NULL DEFAULT 0,
    stdout_dropped_at bigint NOT NULL DEFAULT 0,
    stderr text NOT NULL DEFAULT '',
    stderr_bytes bigint NOT NULL DEFAULT 0,
    stderr_truncated integer NOT NULL DEFAULT 0,
    stderr_dropped bigint NOT NULL DEFAULT 0,
    stderr_dropped_at bigint NOT NULL DEFAULT 0,
    output_cap bigint NOT NULL DEFAULT 0,
    output_bytes bigint NOT NULL DEFAULT 0,
    -- who executes the run: the node (its id, new at each start of a daemon) and its home
    -- (the id of its data directory, kept across restarts: a node restarted on it recovers the
    -- run from its spool). Every write about the run checks the home and the fence; the fence
    -- is raised when another node takes the run over, so a late writer is refused.
    owner_node text,
    owner_home text,
    -- until when the claim holds, on the database's clock; renewed while the run executes
    lease_expires_at bigint,
    fence bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, run),
    -- one run per attempt of a fire: a second outcome for the same fire cannot be recorded,
    -- whatever the code above does
    CONSTRAINT runs_one_per_fire_attempt UNIQUE (task_id, scheduled_at, attempt)
  );
  CREATE INDEX runs_with_output ON ${s}.runs (finished_at) WHERE output_bytes > 0 AND finished_at IS NOT NULL;
  CREATE INDEX runs_leased ON ${s}.runs (lease_expires_at) WHERE outcome = 'running';

  -- the kept output bytes of all runs, so that checking the bound costs one row read
  CREATE TABLE ${s}.output_usage (id integer PRIMARY KEY CHECK (id = 1), bytes bigint NOT NULL);
  INSERT INTO ${s}.output_usage (id, bytes) VALUES (1, 0);
  CREATE FUNCTION ${s}.runs_output_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE ${s}.output_usage SET bytes = bytes
      + CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE NEW.output_bytes END
      - CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE OLD.output_bytes END
      WHERE id = 1;
    RETURN NULL;
  END $$;
  -- the database's clock in epoch milliseconds: every node compares due times and leases with it
  CREATE FUNCTION ${s}.now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
    $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
  CREATE TRIGGER runs_output_changed AFTER INSERT OR DELETE OR UPDATE OF output_bytes ON ${s}.runs
    FOR EACH ROW EXECUTE FUNCTION ${s}.runs_output_changed();
  `,
  },
  {
    version: 2,
    describe: 'nodes: the daemons sharing the schema, each with its heartbeat',
    sql: (s) => `
  -- One row per start of a daemon process (the id is new at every start). heartbeat_at is
  -- the database's clock, never the node's, so that whether a node is alive does not depend
  -- on which node's clock reads it; started_at is the node's own account of its start.
  CREATE TABLE ${s}.nodes (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    started_at bigint NOT NULL,
    heartbeat_at bigint NOT NULL,
    -- how often the node means to beat: it is stale after a few of its own intervals, whatever
    -- interval the node reading the row uses
    heartbeat_interval_ms integer NOT NULL,
    runs_executing integer NOT NULL DEFAULT 0,
    -- set by a clean shutdown; NULL while the node runs (or after it died without one)
    stopped_at bigint
  );
  `,
  },
  {
    version: 3,
    describe: 'run requests: a kill asked on one node for a run another node executes',
    sql: (s) => `
  -- A node asked to end a run it does not execute writes a request here for the run's owner
  -- (by its home, which outlives a restart); the owner takes its requests every second and
  -- ends the runs. Requests are consumed (deleted) as they are taken.
  CREATE TABLE ${s}.run_requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id text NOT NULL,
    run integer NOT NULL,
    owner_home text NOT NULL,
    kind text NOT NULL CHECK (kind = 'kill'),
    reason text NOT NULL,
    requested_by text NOT NULL,
    requested_at bigint NOT NULL
  );
  CREATE INDEX run_requests_owner ON ${s}.run_requests (owner_home);
  `,
  },
  {
    version: 4,
    describe: 'events: every change of a task, numbered, with a notification to the nodes',
    sql: (s) => `
  -- One row per committed change of a task (a new version) or deletion, written by a trigger
  -- so that no write path can forget it. Each node LISTENs on the schema's channel (the
  -- doorbell: the payload is the event's id) and also reads the rows after the last id it
  -- has seen (the backstop for notifications lost while its connection was down). The id
  -- orders the events of the whole cluster; rows are pruned once older than any watcher may
  -- ask about.
  CREATE TABLE ${s}.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('changed', 'deleted')),
    version integer NOT NULL,
    at bigint NOT NULL DEFAULT ${s}.now_ms()
  );
  CREATE INDEX events_at ON ${s}.events (at);
  CREATE FUNCTION ${s}.tasks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    event_id bigint;
  BEGIN
    IF TG_OP = 'DELETE' THEN
      INSERT INTO ${s}.events (task_id, kind, version) VALUES (OLD.id, 'deleted', OLD.version) RETURNING id INTO event_id;
    ELSE
      INSERT INTO ${s}.events (task_id, kind, version) VALUES (NEW.id, 'changed', NEW.version) RETURNING id INTO event_id;
    END IF;
    -- Delivered at commit, to the sessions listening then; the channel is the schema's name.
    PERFORM pg_notify(TG_TABLE_SCHEMA, event_id::text);
    RETURN NULL;
  END $$;
  CREATE TRIGGER tasks_changed AFTER INSERT OR DELETE OR UPDATE OF version ON ${s}.tasks
    FOR EACH ROW EXECUTE FUNCTION ${s}.tasks_changed();
  `,
  },
  {
    version: 5,
    describe: 'tokens made with scheduler token create (name, role, SHA-256)',
    sql: (s) => `
  CREATE TABLE ${s}.tokens (name text PRIMARY KEY, role text NOT NULL, sha256 text NOT NULL, created_at bigint NOT NULL,
    CONSTRAINT tokens_sha256_key UNIQUE (sha256));
  `,
  },
  {
    version: 6,
    describe: 'the audit log: every change asked of the daemons, the newest kept',
    sql: (s) => `
  CREATE TABLE ${s}.audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, token text, role text,
    method text NOT NULL, path text NOT NULL, operation text, task_id text, status integer NOT NULL, remote text NOT NULL);
  `,
  },
  {
    version: 7,
    describe: "browsers' sessions (POST /api/session): the SHA-256 of each id, never the id",
    sql: (s) => `
  CREATE TABLE ${s}.sessions (sha256 text PRIMARY KEY, name text NOT NULL, role text NOT NULL, token_check text NOT NULL,
    created_at bigint NOT NULL, expires_at bigint NOT NULL);
  CREATE INDEX sessions_expiry ON ${s}.sessions (expires_at);
  `,
  },
  {
    version: 8,
    describe: 'the history across tasks and the listing by id prefix: runs by fire and by outcome, tasks by id in byte order (and by status then id)',
    // Task ids in byte order (COLLATE "C") whatever the database's collation, as SQLite
    // orders them: a range of ids is then a prefix, and both stores list in the same order.
    // Built in the migration's transaction, which holds writes to the tables meanwhile: a
    // few seconds at a million runs, once, on the first node of this version to start.
    sql: (s) => `
  CREATE INDEX runs_by_fire ON ${s}.runs (scheduled_at, task_id COLLATE "C", run);
  CREATE INDEX runs_by_outcome ON ${s}.runs (outcome, scheduled_at, task_id COLLATE "C", run);
  CREATE INDEX tasks_by_id_bytes ON ${s}.tasks (id COLLATE "C");
  CREATE INDEX tasks_by_status_id ON ${s}.tasks (status, id COLLATE "C");
  `,
  },
];

/** The newest schema version this build knows. */
export const knownSchemaVersion = migrations.at(-1)?.version ?? 0;
