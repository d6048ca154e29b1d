/**
 * The events of GET /api/tasks/{id}/events as schemas, for the OpenAPI document: one named
 * schema per event, and `Event`, any one of them. The stream itself is written by the
 * event hub from the types in events.ts; the checks at the bottom keep both in step, so the
 * document cannot drift from what is sent.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { runOutcomes, taskStatuses, type OutputStream, type RunOutcome, type TaskStatus } from '../core/task.js';
import type { TaskEventData, TaskEventName } from './events.js';
import { Ref, TaskSummaryJson } from './schemas.js';

const timeForm = 'RFC 3339, UTC, with milliseconds';
const Time = (what: string) => Type.String({ format: 'date-time', description: `${what}; ${timeForm}` });
const NullableInteger = (description: string) => Type.Unsafe<number | null>({ type: ['integer', 'null'], description });
/** A string of a fixed set, typed as the set. */
const Enum = <T extends string>(values: readonly T[], description?: string) => Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
const NullableString = (description: string) => Type.Unsafe<string | null>({ type: ['string', 'null'], description });

const eventData = {
  snapshot: Type.Object(
    {
      task: Ref(TaskSummaryJson),
      run: NullableInteger('the run executing now (its output so far follows as output events), or null'),
      runs: Type.Array(Type.Integer(), { description: 'every run executing now, oldest first (more than one under overlap allow)' }),
    },
    { description: 'The first event of a fresh stream: the task as it is now, and its runs in progress' },
  ),
  status: Type.Object(
    {
      status: Enum<TaskStatus>(taskStatuses),
      previousStatus: Enum<TaskStatus>(taskStatuses),
      version: Type.Integer(),
      lastStatusUpdated: Time('when the status last changed'),
      nextRunAt: Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'date-time', description: `the next fire; ${timeForm}` }),
      stopRequested: Type.Boolean(),
    },
    { description: 'The task changed (its status, or what comes next): sent on every change of its version' },
  ),
  'run-started': Type.Object(
    {
      run: Type.Integer(),
      scheduledAt: Time('the fire time it serves'),
      startedAt: Time('when it was recorded as started'),
      attempt: Type.Integer({ description: '1, or more for a retry of the same fire' }),
      waiting: Type.Optional(Type.Literal(true, { description: 'present when the run waits for a free slot: its output comes once it starts' })),
    },
    { description: 'A run began' },
  ),
  'run-skipped': Type.Object(
    { run: Type.Integer(), scheduledAt: Time('the fire time that did not run'), reason: Type.String() },
    { description: 'A fire that did not run (for example, the previous run was still executing)' },
  ),
  'run-finished': Type.Object(
    {
      run: Type.Integer(),
      outcome: Enum(runOutcomes.filter((outcome): outcome is Exclude<RunOutcome, 'running' | 'skipped'> => outcome !== 'running' && outcome !== 'skipped')),
      exitCode: NullableInteger('its exit status; null when it ended by a signal or never started'),
      signal: NullableString('the signal that ended it'),
      error: NullableString('why it failed to start or was interrupted'),
      finishedAt: Time('when it ended'),
      stdoutBytes: Type.Integer(),
      stderrBytes: Type.Integer(),
    },
    { description: 'A run ended' },
  ),
  output: Type.Object(
    {
      run: Type.Integer(),
      stream: Enum<OutputStream>(['stdout', 'stderr']),
      offset: Type.Integer({ description: 'where the chunk begins in the stream, in bytes: a jump says bytes were skipped' }),
      bytes: Type.Integer({ description: "the chunk's length in bytes" }),
      at: Time('when it was written'),
      text: Type.String({ description: 'whole UTF-8 characters, as the script wrote them' }),
    },
    { description: "A chunk of a run's output" },
  ),
  pruned: Type.Object(
    { lastEventId: Type.String(), reason: Type.String() },
    { description: 'The stream could not resume after Last-Event-ID (what was missed is no longer retained): a snapshot follows' },
  ),
  deleted: Type.Object({ id: Type.String() }, { description: 'The task was deleted: the stream ends' }),
} satisfies Record<TaskEventName, TSchema>;

/** "run-started" -> "RunStartedEvent": the name of its component. */
const componentName = (name: string) => `${name.replace(/(^|-)(\w)/g, (_, __, letter: string) => letter.toUpperCase())}Event`;

/** One message of the stream, as named shared schemas: `id`, `event` (its name) and `data` (JSON). */
export const eventSchemas = Object.entries(eventData).map(([name, data]) =>
  Type.Object(
    {
      id: Type.Optional(Type.String({ description: 'EPOCH-SEQ: send it back as Last-Event-ID to resume after this event' })),
      event: Type.String({ enum: [name] }),
      data,
    },
    { $id: componentName(name), description: `\`event: ${name}\`: ${(data as { description?: string }).description ?? ''}` },
  ),
);

/** Any one message of the stream. */
export const EventJson = Type.Object(
  {},
  {
    $id: 'Event',
    description:
      'One message of the event stream, written as Server-Sent Events: `id: EPOCH-SEQ`, `event: NAME` and `data: JSON` lines, then an empty line. ' +
      'Lines starting with a colon are heartbeats; a `retry:` line sets the delay before reconnecting.',
    oneOf: eventSchemas.map((schema) => Ref(schema)),
  },
);

// The schemas describe exactly the data events.ts sends: a change to either fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DataOf<Name extends TaskEventName> = Static<(typeof eventData)[Name]>;
const inStep: { [Name in TaskEventName]: Same<DataOf<Name>, TaskEventData[Name]> } = {
  snapshot: true,
  status: true,
  'run-started': true,
  'run-skipped': true,
  'run-finished': true,
  output: true,
  pruned: true,
  deleted: true,
};
void inStep;
