/**
 * The HTTP protocol: request and response schemas, shared by the server (validation,
 * serialisation, the OpenAPI document) and the client (the types it returns).
 *
 * One form per kind of value: a time is RFC 3339 in UTC with milliseconds
 * (2026-12-24T22:00:00.000Z); a duration a task is given is a Go-style duration in its
 * canonical form (1h30m0s, 1m0s, 1.5s, 300ms), which a submit accepts back; a measured
 * amount (bytes, a wait, the uptime, a limit) is a number in the unit its name ends with
 * (stdoutBytes, waitedMs, uptimeSeconds, cpuSeconds). A task's `time` is its schedule:
 * as submitted (the spec's form: `"time": "1m"`), but an `at` time is normalised.
 *
 * The schemas with an `$id` are shared: the server registers them (app.addSchema), the
 * routes refer to them with Ref(), and the OpenAPI document lists them as components.
 */
import { Type, type Static, type TSchema, type TUnsafe } from 'typebox';
import { catchUpModes } from '../core/catch-up.js';
import { sandboxModes } from '../core/execution-input.js';
import { envNamePattern, queuePattern, resourceLimitNames } from '../core/execution.js';
import { languagePattern } from '../core/interpreters.js';
import { maxRetries, overlapRules } from '../core/policy.js';
import { errorCodes, type ErrorCode } from '../core/errors.js';
import { taskIdPattern } from '../core/submission.js';
import { runOutcomes, taskStatuses, taskTypes } from '../core/task.js';
import { roles, tokenNameRule, tokenNamePattern } from './vocabulary.js';

/**
 * `T or null`, written as `type: [T, "null"]` rather than anyOf: the serialiser then needs
 * no validation pass per response, which anyOf would cost on every GET.
 */
function Nullable<T>(type: 'string' | 'integer', options: Record<string, unknown> = {}) {
  return Type.Unsafe<T | null>({ ...options, type: [type, 'null'] } as never);
}

/**
 * A `$ref` to a shared schema, typed as the schema it names: the serialiser resolves it, and
 * the OpenAPI document shows it as `#/components/schemas/<$id>` instead of a copy.
 */
export function Ref<T extends TSchema>(schema: T): TUnsafe<Static<T>> {
  const id = (schema as { $id?: unknown }).$id;
  if (typeof id !== 'string') throw new Error('Ref(): the schema has no $id to refer to');
  return Type.Unsafe<Static<T>>({ $ref: `${id}#` });
}

const timeForm = 'RFC 3339, UTC, with milliseconds (2026-12-24T22:00:00.000Z)';
const IsoTime = Type.String({ format: 'date-time', description: timeForm });
const NullableIsoTime = Nullable<string>('string', { format: 'date-time', description: timeForm });
/** A duration the task was given, in its canonical form (see the top of this file). */
const durationForm = 'a Go-style duration in canonical form (1h30m0s, 1m0s, 1.5s, 300ms)';
const NullableDuration = (what: string) => Nullable<string>('string', { description: `${what}; ${durationForm}` });

/** The id in a task's path. */
export const TaskIdParams = Type.Object({
  id: Type.String({ pattern: taskIdPattern, description: '1 to 128 of [A-Za-z0-9._-]' }),
});

/** The body of POST /api/tasks. */
export const SubmitBody = Type.Object(
  {
    id: Type.String({ pattern: taskIdPattern, description: 'unique task id, 1 to 128 of [A-Za-z0-9._-]' }),
    type: Type.String({ enum: [...taskTypes], description: 'delay: run once, `time` after submission; cron: run every `time` (a duration) or on `time` (a cron expression); at: run once at `time`' }),
    time: Type.String({ minLength: 1, maxLength: 256, description: 'delay and cron: a Go-style duration (300ms, 10s, 1m, 1h30m); cron: or a cron expression ("0 9 * * MON-FRI", "*/10 * * * * *", "@hourly"); at: a time (2026-12-01T09:30:00Z, or local "2026-12-01 09:30")' }),
    script: Type.String({ minLength: 1, description: 'a bash script' }),
    timeout: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'end each run that takes longer (Go-style duration); recorded as timed_out' })),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "IANA zone of a cron expression and of local times (default: the daemon's)" })),
    start: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'cron tasks: fire from this time on (an interval grid starts there)' })),
    end: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'cron tasks: fire at this time at the latest, then end Executed' })),
    lang: Type.Optional(Type.String({ pattern: languagePattern, description: "the script's language: bash (default), sh, node, python, or one the daemon's config adds" })),
    jitter: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'move each fire later by up to this (Go duration), the same amount for a fire after a restart; shorter than the time between fires' })),
    overlap: Type.Optional(Type.String({ enum: [...overlapRules], description: 'a fire while a run executes: skip it (default), queue it (one waits), allow it (runs beside, up to maxParallel), or replace the run' })),
    maxParallel: Type.Optional(Type.Integer({ minimum: 2, maximum: 64, description: 'with overlap allow: the most runs at once (default 4)' })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: maxRetries, description: 'retry a failed run this many times' })),
    retryDelay: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'before the first retry (Go duration, default 1s); doubled each time' })),
    retryMaxDelay: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the longest wait before a retry (default 1h)' })),
    retryOn: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 255 }), { minItems: 1, maxItems: 255, description: 'retry only runs that exit with one of these codes' })),
    catchUp: Type.Optional(Type.String({ enum: [...catchUpModes], description: 'fires missed while the daemon was down: run none, once (default) or all' })),
    catchUpWindow: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'missed fires older than this are never run (Go duration)' })),
    env: Type.Optional(Type.Record(Type.String({ pattern: envNamePattern }), Type.String(), { description: 'variables set for each run, on top of the base environment (names SCHEDULER_* are the daemon\'s)' })),
    cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "the runs' working directory, absolute (default: the home directory of the user they run as)" })),
    user: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$', description: 'run the script as this user (a daemon running as root only)' })),
    queue: Type.Optional(Type.String({ pattern: queuePattern, description: "the queue whose slots its runs take (default: default); the daemon's config defines queues" })),
    sandbox: Type.Optional(Type.Boolean({ description: "run in the bubblewrap sandbox; absent: the daemon's setting decides" })),
    network: Type.Optional(Type.Boolean({ description: 'in the sandbox: keep the network (default: none)' })),
    limits: Type.Optional(
      Type.Object(
        {
          cpu: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'CPU time of each process of a run, whole seconds (Go duration: 30s, 5m)' })),
          memory: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'resident memory of a run, all its processes together (512MiB, 2G)' })),
          processes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'processes of a run at once, its main one included' })),
          openFiles: Type.Optional(Type.Integer({ minimum: 32, maximum: 1_048_576, description: 'open files of each process of a run (at least 32: interpreters need some to start)' })),
          output: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'bytes a run may write to stdout and stderr together' })),
        },
        { additionalProperties: false, description: "bounds on each run; an absent one is the daemon's default" },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SubmitBody = Static<typeof SubmitBody>;

/** Output captured from one stream of a run. */
const OutputFields = {
  stdout: Type.String(),
  stderr: Type.String(),
  stdoutBytes: Type.Integer({ description: 'bytes written to stdout in all, kept or not' }),
  stderrBytes: Type.Integer({ description: 'bytes written to stderr in all, kept or not' }),
  stdoutTruncated: Type.Boolean({ description: 'true when bytes of stdout were dropped' }),
  stderrTruncated: Type.Boolean({ description: 'true when bytes of stderr were dropped' }),
  stdoutDroppedBytes: Type.Integer({ description: 'bytes dropped from the middle of stdout (its first and last bytes are kept)' }),
  stderrDroppedBytes: Type.Integer({ description: 'bytes dropped from the middle of stderr' }),
  stdoutDroppedAt: Type.Integer({ description: 'the stdout offset where the dropped bytes began: `stdout` is the bytes before it, then the bytes after the drop' }),
  stderrDroppedAt: Type.Integer({ description: 'the stderr offset where the dropped bytes began' }),
  outputCap: Type.Integer({ description: 'bytes kept per stream for this run: half from its start, half from its end' }),
};

/** A task's resource limits, as numbers in the unit each name ends with; null where it has none of its own. */
const LimitsJson = Type.Object({
  cpuSeconds: Nullable<number>('integer', { description: 'CPU time of each process of a run, whole seconds' }),
  memoryBytes: Nullable<number>('integer'),
  processes: Nullable<number>('integer'),
  openFiles: Nullable<number>('integer'),
  outputBytes: Nullable<number>('integer'),
});

/** What a run is, its output aside. */
const RunFields = {
  run: Type.Integer({ description: 'run number, from 1' }),
  scheduledAt: Type.String({ format: 'date-time', description: `the fire time the run serves (for a retry: the fire of the run it retries); ${timeForm}` }),
  attempt: Type.Integer({ description: '1, or 2 and more for retries of the same fire' }),
  startedAt: NullableIsoTime,
  finishedAt: NullableIsoTime,
  outcome: Type.String({ enum: [...runOutcomes] }),
  exitCode: Nullable<number>('integer'),
  signal: Nullable<string>('string'),
  error: Nullable<string>('string', { description: 'why the run failed to start, was skipped or interrupted' }),
  limit: Type.Unsafe<string | null>({ type: ['string', 'null'], enum: [...resourceLimitNames, null], description: 'the resource limit that ended the run; null when it hit none' }),
  waitedMs: Nullable<number>('integer', { description: 'how long the run waited for a free slot before it started; null when it did not wait' }),
  waiting: Type.Boolean({ description: 'the run is in progress but waits for a free slot: its script has not started (startedAt is null)' }),
  node: Type.Optional(Type.String({ description: 'when several daemons share a PostgreSQL store: the node executing the run, or that last did (absent on SQLite)' })),
};

/** One run of a task, as it appears in the task's results. */
export const RunJson = Type.Object({
  ...RunFields,
  ...OutputFields,
}, { $id: 'Run', description: 'One run of a task: when, how it ended, and its output (the head and tail of each stream when it was long)' });
export type RunJson = Static<typeof RunJson>;

/** A run's output fields but the text: its byte counts and what was dropped. */
const { stdout: _stdoutText, stderr: _stderrText, ...OutputCountFields } = OutputFields;

/** A run in the history across tasks: its task, and the fields of a Run but the text of its output. */
export const RunSummaryJson = Type.Object({
  taskId: Type.String({ description: 'the task the run belongs to' }),
  ...RunFields,
  ...OutputCountFields,
}, { $id: 'RunSummary', description: 'A run of some task as the history across tasks lists it: a Run without `stdout` and `stderr` (its byte counts kept); GET /api/tasks/{id}/runs/{run} has its output' });
export type RunSummaryJson = Static<typeof RunSummaryJson>;

const TaskFields = {
  id: Type.String(),
  type: Type.String({ enum: [...taskTypes] }),
  time: Type.String({
    description: 'its schedule: delay and cron, the duration or cron expression as submitted (the spec\'s form, "1m"); at, the time it fires, normalised to RFC 3339 UTC with milliseconds',
  }),
  script: Type.String(),
  lang: Type.String({ description: "the script's language" }),
  timeout: NullableDuration('the bound on each run; null for none'),
  timezone: Type.String({ description: 'the IANA zone its cron expression and local times are read in' }),
  start: NullableIsoTime,
  end: NullableIsoTime,
  status: Type.String({ enum: [...taskStatuses] }),
  lastStatusUpdated: IsoTime,
  version: Type.Integer(),
  nextRunAt: NullableIsoTime,
  createdAt: IsoTime,
  stopRequested: Type.Boolean({ description: 'a cron task stopped during a run: it ends Stopped when the run finishes' }),
  jitter: NullableDuration('fires are moved later by up to this; null for none'),
  overlap: Type.String({ enum: [...overlapRules] }),
  maxParallel: Nullable<number>('integer', { description: 'with overlap allow: the most runs at once; null otherwise' }),
  retries: Type.Integer({ description: 'retries of a failed run; 0 for none' }),
  retryDelay: NullableDuration('the wait before the first retry, doubled each time; null without retries'),
  retryMaxDelay: NullableDuration('the longest wait before a retry; null without retries'),
  catchUp: Type.String({ enum: [...catchUpModes] }),
  catchUpWindow: NullableDuration('missed fires older than this are never run; null for no bound'),
  retryOn: Type.Unsafe<number[] | null>({ type: ['array', 'null'], items: { type: 'integer' }, description: 'exit codes that are retried; null for any failure' }),
  pauseRequested: Type.Boolean({ description: 'a recurring task paused during a run (or run now while paused): it is Paused when the run finishes' }),
  env: Type.Record(Type.String(), Type.String(), { description: 'its own variables, on top of the base environment' }),
  cwd: Nullable<string>('string', { description: 'the working directory; null: the default' }),
  user: Nullable<string>('string', { description: "the user its scripts run as; null: the daemon's" }),
  queue: Type.String({ description: 'the queue whose slots its runs take' }),
  sandbox: Type.Boolean({ description: 'runs in the bubblewrap sandbox' }),
  network: Type.Boolean({ description: 'in the sandbox, has the network' }),
  limits: LimitsJson,
};

/** A task as listed: without its results. */
export const TaskSummaryJson = Type.Object(
  {
    ...TaskFields,
    recentOutcomes: Type.Optional(
      Type.Array(Type.String({ enum: [...runOutcomes] }), {
        description: 'the outcomes of its last `recent` runs, oldest first (fewer when it has had fewer); only in GET /api/tasks with recent=1..10',
      }),
    ),
  },
  { $id: 'TaskSummary', description: 'A task without its results, as listed and as sent in the snapshot event' },
);
export type TaskSummaryJson = Static<typeof TaskSummaryJson>;

/** A task with its retained results, oldest first. */
export const TaskJson = Type.Object(
  { ...TaskFields, results: Type.Array(Ref(RunJson), { description: 'the retained runs, oldest first' }) },
  { $id: 'Task', description: 'A task with its retained results' },
);
export type TaskJson = Static<typeof TaskJson>;

/** The answer to a stop (and to pause, resume, run now): the task, and a warning when its run goes on. */
export const StopResponse = Type.Unsafe<TaskJson & { warning?: string }>({
  allOf: [Ref(TaskJson), Type.Object({ warning: Type.Optional(Type.String({ description: 'what did not happen as asked, e.g. "the run in progress goes on"' })) })],
});
export type StopResponse = Static<typeof StopResponse>;

/** Query of GET /api/tasks. */
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    // A task id with a prefix: up to 128 characters.
    cursor: Type.Optional(Type.String({ maxLength: 128, description: 'nextCursor of the previous page, asked with the same prefix' })),
    status: Type.Optional(Type.String({ enum: [...taskStatuses] })),
    prefix: Type.Optional(
      Type.String({
        pattern: taskIdPattern,
        description: 'only the tasks whose id starts with this (case matters); they then come in id order (byte order: - . 0-9 A-Z _ a-z), not in submission order',
      }),
    ),
    recent: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'add to each task `recentOutcomes`, the outcomes of its last this many runs; 0: none' }),
    ),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;

/** A page of tasks. */
export const TaskPageJson = Type.Object({
  tasks: Type.Array(Ref(TaskSummaryJson)),
  nextCursor: Nullable<string>('string', { description: 'pass as cursor for the next page; null on the last' }),
});
export type TaskPageJson = Static<typeof TaskPageJson>;

/** Query of GET /api/tasks/{id}. */
export const GetQuery = Type.Object(
  {
    watch: Type.Optional(Type.Boolean({ description: 'long poll: answer once the version differs from `version`' })),
    version: Type.Optional(Type.Integer({ minimum: 0 })),
    timeout: Type.Optional(Type.String({ maxLength: 32, description: 'how long a long poll waits at most (Go duration, default 30s, at most 5m)' })),
  },
  { additionalProperties: false },
);
export type GetQuery = Static<typeof GetQuery>;

/** The path of one run. */
export const RunParams = Type.Object({
  id: Type.String({ pattern: taskIdPattern }),
  run: Type.Integer({ minimum: 1, description: 'run number, from 1' }),
});

/** Query of GET /api/tasks/{id}/runs. */
export const RunsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 32, description: 'nextCursor of the previous page' })),
    outcome: Type.Optional(Type.String({ enum: [...runOutcomes] })),
  },
  { additionalProperties: false },
);
export type RunsQuery = Static<typeof RunsQuery>;

/** A page of runs, newest first. */
export const RunPageJson = Type.Object({
  runs: Type.Array(Ref(RunJson)),
  nextCursor: Nullable<string>('string', { description: 'pass as cursor for the next (older) page; null on the last' }),
});
export type RunPageJson = Static<typeof RunPageJson>;

/** Query of GET /api/runs. */
export const AllRunsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    // The last run's fire time, number and task id (up to 128 characters).
    cursor: Type.Optional(Type.String({ maxLength: 160, description: 'nextCursor of the previous page, asked with the same filters' })),
    outcome: Type.Optional(Type.String({ enum: [...runOutcomes] })),
    since: Type.Optional(Type.String({ maxLength: 64, description: 'only runs whose fire (scheduledAt) is at or after this time, RFC 3339 with its offset (2026-12-24T22:00:00.000Z)' })),
    until: Type.Optional(Type.String({ maxLength: 64, description: 'only runs whose fire (scheduledAt) is before this time, RFC 3339 with its offset' })),
  },
  { additionalProperties: false },
);
export type AllRunsQuery = Static<typeof AllRunsQuery>;

/** A page of the runs of every task, newest fire first. */
export const AllRunsPageJson = Type.Object({
  runs: Type.Array(Ref(RunSummaryJson), { description: 'newest fire (scheduledAt) first; at the same instant, by task id then run number, both descending' }),
  nextCursor: Nullable<string>('string', { description: 'pass as cursor for the next (older) page; null on the last' }),
});
export type AllRunsPageJson = Static<typeof AllRunsPageJson>;

/** Codes of the registry that only the client raises: never in an answer of the server. */
const clientOnlyCodes: readonly string[] = ['daemon_unreachable', 'run_not_succeeded'] satisfies ErrorCode[];

/** The codes the server answers with, by HTTP status. */
export const serverErrorCodes: ReadonlyMap<number, readonly ErrorCode[]> = (() => {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, { httpStatus }] of Object.entries(errorCodes) as Array<[ErrorCode, { httpStatus: number }]>) {
    if (clientOnlyCodes.includes(code)) continue;
    byStatus.set(httpStatus, [...(byStatus.get(httpStatus) ?? []), code]);
  }
  return byStatus;
})();

/** Every error the API answers with. */
export const ErrorJson = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ enum: [...serverErrorCodes.values()].flat(), description: 'what went wrong, for programs; the HTTP status follows from it' }),
      message: Type.String({ description: 'what went wrong and what to do, for people' }),
    }),
  },
  { $id: 'Error', description: 'Every error answer: {"error":{"code","message"}}' },
);
export type ErrorJson = Static<typeof ErrorJson>;

/** What a node's state means (GET /api/nodes, /healthz). */
export const nodeStates = ['alive', 'stale', 'stopped'] as const;
const NodeState = Type.String({
  enum: [...nodeStates],
  description: 'alive: its last heartbeat is recent (within 3 of its heartbeat intervals); stale: it is not (the node died, is paused or cannot reach the store); stopped: it shut down cleanly',
});

/** This node in /healthz: which daemon answered, and its state as it knows it. */
const HealthNode = Type.Object({
  id: Type.String({ description: 'the node\'s id, new at every start: host-pid-random' }),
  state: NodeState,
});
/** What /healthz adds to its status (present on a daemon; absent only in embedded uses without a store kind). */
const healthAbout = {
  store: Type.Optional(Type.String({ enum: ['sqlite', 'postgres'], description: 'the kind of store the daemon keeps its tasks in' })),
  node: Type.Optional(HealthNode),
};

/** The answer of GET /healthz. */
export const HealthJson = Type.Object({ status: Type.Literal('ok'), ...healthAbout });

/** GET /healthz when the daemon cannot do its work: why, and what it holds meanwhile. */
export const UnhealthyJson = Type.Object({
  status: Type.Literal('unavailable'),
  code: Type.Union([Type.Literal('store_unavailable'), Type.Literal('store_corrupt')]),
  reason: Type.String(),
  since: Type.String({ description: 'RFC 3339 UTC: when the store began to fail' }),
  heldRunEnds: Type.Integer({ description: 'ended runs whose end waits in memory to be committed' }),
  ...healthAbout,
});

/** One daemon sharing the store (GET /api/nodes). */
export const NodeJson = Type.Object({
  id: Type.String({ description: 'new at every start of a daemon: host-pid-random' }),
  host: Type.String(),
  pid: Type.Integer(),
  version: Type.String({ description: 'the scheduler version it runs' }),
  startedAt: IsoTime,
  heartbeatAt: Type.String({ format: 'date-time', description: `its last heartbeat (by the database's clock on PostgreSQL); ${timeForm}` }),
  runsExecuting: Type.Integer({ description: 'runs it executed at its last heartbeat' }),
  state: NodeState,
  stoppedAt: Nullable<string>('string', { format: 'date-time', description: 'when it shut down cleanly; null while it runs, or after it died' }),
  self: Type.Boolean({ description: 'true for the daemon that answered' }),
}, { $id: 'Node', description: 'A daemon (node) sharing the store' });
export type NodeJson = Static<typeof NodeJson>;

/** A token the daemon knows (GET /api/tokens): never the token itself. */
export const TokenJson = Type.Object(
  {
    name: Type.String(),
    role: Type.Union(roles.map((role) => Type.Literal(role))),
    source: Type.Union([Type.Literal('daemon'), Type.Literal('config'), Type.Literal('created')], {
      description: "daemon: the daemon's own (--token-file); config: declared in the config file; created: made with POST /api/tokens",
    }),
    createdAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when it was made; null for the others' }),
  },
  { additionalProperties: false },
);
export type TokenJson = Static<typeof TokenJson>;

/** GET /api/tokens. */
export const TokenListJson = Type.Object({ tokens: Type.Array(TokenJson) });
export type TokenListJson = Static<typeof TokenListJson>;

/** POST /api/tokens: the token made, shown this once. */
export const CreatedTokenJson = Type.Object({
  name: Type.String(),
  role: Type.Union(roles.map((role) => Type.Literal(role))),
  createdAt: Type.String({ format: 'date-time' }),
  token: Type.String({ description: 'the token: shown this once, the daemon keeps only its SHA-256' }),
});
export type CreatedTokenJson = Static<typeof CreatedTokenJson>;

/** POST /api/tokens' body. */
export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ pattern: tokenNamePattern, description: tokenNameRule }),
    role: Type.Union(roles.map((role) => Type.Literal(role))),
  },
  { additionalProperties: false },
);

/** An entry of the audit log (GET /api/audit). */
export const AuditEntryJson = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  token: Type.Union([Type.String(), Type.Null()], { description: "the token's name; null when the daemon asks for no token" }),
  role: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  path: Type.String(),
  operation: Type.Union([Type.String(), Type.Null()], { description: "the route's operationId; null when no route matched" }),
  taskId: Type.Union([Type.String(), Type.Null()]),
  status: Type.Integer({ description: 'the status of the answer: refusals are recorded too' }),
  remote: Type.String({ description: "the client's address" }),
});
export type AuditEntryJson = Static<typeof AuditEntryJson>;

/** GET /api/audit. */
export const AuditPageJson = Type.Object({
  entries: Type.Array(AuditEntryJson),
  nextBefore: Type.Union([Type.Integer(), Type.Null()], { description: 'pass as ?before= for the older entries; null on the last page' }),
});
export type AuditPageJson = Static<typeof AuditPageJson>;

/** POST /api/session's body: the token to log in with. */
export const CreateSessionBody = Type.Object(
  { token: Type.String({ minLength: 1, description: 'a token the daemon accepts; the answer never repeats it' }) },
  { additionalProperties: false },
);

/** Who the caller is (GET /api/session), or who just logged in (POST /api/session). */
export const SessionJson = Type.Object({
  name: Type.String({ description: 'the name of the token (of the session\'s token); "anonymous" when the daemon asks for no token' }),
  role: Type.Union(roles.map((role) => Type.Literal(role))),
  expiresAt: Nullable<string>('string', { format: 'date-time', description: 'when the session ends; null for a bearer token, or when the daemon asks for no token' }),
  tokenRequired: Type.Boolean({ description: 'whether the daemon asks for a token; false: every request is admitted, there is nothing to log in to' }),
});
export type SessionJson = Static<typeof SessionJson>;

/** GET /api/nodes. */
export const NodeListJson = Type.Object({
  nodes: Type.Array(Ref(NodeJson), { description: 'alive nodes first, then stale, then stopped; the newest start first within each' }),
});
export type NodeListJson = Static<typeof NodeListJson>;

/** GET /api/status: the daemon and what it is doing. */
export const StatusJson = Type.Object({
  version: Type.String(),
  startedAt: IsoTime,
  uptimeSeconds: Type.Number(),
  store: Type.Object({ kind: Type.String({ description: 'sqlite' }), location: Type.String({ description: 'the database file' }) }),
  node: Type.Optional(Type.String({ description: "this daemon's node id (GET /api/nodes lists every node sharing the store)" })),
  runsInProgress: Type.Integer({ description: 'runs executing now' }),
  runsWaiting: Type.Integer({ description: 'runs waiting for a free slot (the global maximum, or their queue\'s)' }),
  maxRuns: Type.Integer({ description: 'runs executing at once, over every queue' }),
  queues: Type.Array(
    Type.Object({
      name: Type.String(),
      limit: Nullable<number>('integer', { description: 'its own maximum of runs at once; null: only the global one' }),
      running: Type.Integer(),
      waiting: Type.Integer(),
    }),
  ),
  eventStreams: Type.Integer({ description: 'live event streams open now' }),
  languages: Type.Array(Type.String(), { description: 'the languages scripts may be written in' }),
  sandbox: Type.Object({
    mode: Type.String({ enum: [...sandboxModes], description: 'optional: tasks opt in; default: they opt out; required: every task is sandboxed' }),
    available: Type.Boolean({ description: 'whether bubblewrap works on this host' }),
    detail: Type.String({ description: "bubblewrap's version, or why it cannot work and what to install" }),
  }),
  settings: Type.Optional(
    Type.Object(
      {
        listen: Type.String({ description: 'the address asked for (--listen), HOST:PORT' }),
        dataDir: Type.String(),
        tokenRequired: Type.Boolean({ description: 'every request but /healthz must carry the bearer token' }),
        configFile: Nullable<string>('string', { description: 'the --config file read; null: none' }),
        keepRuns: Type.Integer(),
        outputCapBytes: Type.Integer(),
        maxOutputTotalBytes: Type.Integer(),
        heartbeatMs: Type.Integer(),
        maxScriptBytes: Type.Integer(),
        killGraceMs: Type.Integer(),
        durability: Type.String({ enum: ['normal', 'full'] }),
        logLevel: Type.String(),
      },
      { description: "the daemon's effective options (from its flags, environment, config file and defaults)" },
    ),
  ),
});
export type StatusJson = Static<typeof StatusJson>;

/** Query of GET /api/tasks/{id}/runs/{run}/output. */
export const OutputQuery = Type.Object(
  {
    stream: Type.Optional(Type.String({ enum: ['stdout', 'stderr'], default: 'stdout' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'byte offset in the stream to read from' })),
    limit: Type.Optional(Type.Integer({ minimum: 4, maximum: 16 * 1024 * 1024, default: 1024 * 1024, description: 'bytes to read at most (at least 4: one character of UTF-8)' })),
  },
  { additionalProperties: false },
);
export type OutputQuery = Static<typeof OutputQuery>;

/** A window of one stream of a run's output. */
export const OutputJson = Type.Object({
  run: Type.Integer(),
  stream: Type.String({ enum: ['stdout', 'stderr'] }),
  offset: Type.Integer({ description: 'where `text` begins in the stream; past the offset asked for when that fell into dropped bytes' }),
  nextOffset: Type.Integer({ description: 'the offset to ask for next; equal to `offset` when there is nothing more yet' }),
  skippedBytes: Type.Integer({ description: 'dropped bytes skipped between the offset asked for and `offset`' }),
  totalBytes: Type.Integer({ description: 'bytes the script has written to the stream so far' }),
  droppedBytes: Type.Integer(),
  droppedAt: Type.Integer(),
  complete: Type.Boolean({ description: 'true once the run has ended: the stream will not grow' }),
  text: Type.String(),
});
export type OutputJson = Static<typeof OutputJson>;

/** Query of GET /api/tasks/{id}/events. */
export const EventsQuery = Type.Object(
  {
    lastEventId: Type.Optional(Type.String({ maxLength: 64, description: 'resume after this event id, for clients that cannot send the Last-Event-ID header' })),
  },
  { additionalProperties: false },
);

/** Query of POST /api/tasks. */
export const SubmitQuery = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'check the task and answer it with its next fire times, without storing it' })),
    next: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'how many fire times a dry run lists' })),
  },
  { additionalProperties: false },
);

/** The answer to a dry run: the task as it would be, and when it would fire. */
export const DryRunJson = Type.Unsafe<TaskJson & { nextRuns: string[] }>({
  allOf: [Ref(TaskJson), Type.Object({ nextRuns: Type.Array(IsoTime, { description: 'when it would fire, earliest first' }) })],
});
export type DryRunJson = Static<typeof DryRunJson>;

/** Query of GET /api/tasks/{id}/next. */
export const NextQuery = Type.Object(
  { n: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'how many fire times' })) },
  { additionalProperties: false },
);

/** The next fire times of a task. */
export const NextJson = Type.Object({
  id: Type.String(),
  status: Type.String({ enum: [...taskStatuses] }),
  nextRuns: Type.Array(IsoTime, { description: 'when it will fire next, if nothing stops it; empty once it is final or stopping' }),
});
export type NextJson = Static<typeof NextJson>;
