/**
 * GET /api/openapi.json keeps its promise: it lints clean with Redocly's recommended rules
 * (redocly.yaml), names Task, Run, Event and Error as components that operations refer to,
 * and documents every operation with an id, a summary and its errors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../..');
const redocly = join(repoRoot, 'node_modules/.bin/redocly');

interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: Array<{ in: string; name: string }>;
  responses: Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>;
}
type Schema = Record<string, unknown>;
interface OpenApiDocument {
  components: { schemas: Record<string, Schema> };
  paths: Record<string, Record<string, Operation>>;
}

async function fetchDocument(harness: Harness): Promise<{ text: string; document: OpenApiDocument }> {
  const response = await harness.app.inject({ method: 'GET', url: '/api/openapi.json', headers: { authorization: 'Bearer secret' } });
  expect(response.statusCode, response.body).toBe(200);
  return { text: response.body, document: response.json<OpenApiDocument>() };
}

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
}

/** Runs `redocly lint` on the document as the daemon serves it; its JSON report, and how it exited. */
async function lint(text: string): Promise<{ exitCode: number; report: LintReport }> {
  const dir = mkdtempSync(join(tmpdir(), 'scheduler-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, text);
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const args = ['lint', '--config', join(repoRoot, 'redocly.yaml'), '--format', 'json', file];
    const result = await run(redocly, args, { env, cwd: repoRoot }).then(
      ({ stdout }) => ({ exitCode: 0, stdout }),
      (error: { code?: number; stdout?: string }) => ({ exitCode: error.code ?? -1, stdout: error.stdout ?? '' }),
    );
    return { exitCode: result.exitCode, report: JSON.parse(result.stdout) as LintReport };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const problems = (report: LintReport) => report.problems.map((problem) => `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer}: ${problem.message}`);

/** Every operation of the document, as "METHOD /path". */
function operations(document: OpenApiDocument): Array<[string, Operation]> {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]): [string, Operation] => [`${method.toUpperCase()} ${path}`, operation]),
  );
}

/** Every object schema nested in `value`, its own properties named. */
function objectSchemas(value: unknown, found: Schema[] = []): Schema[] {
  if (Array.isArray(value)) for (const item of value) objectSchemas(item, found);
  else if (value !== null && typeof value === 'object') {
    const schema = value as Schema;
    if (schema.properties && typeof schema.properties === 'object') found.push(schema);
    for (const child of Object.values(schema)) objectSchemas(child, found);
  }
  return found;
}

describe.each([
  ['without a token', undefined],
  ['with a token', 'secret'],
])('GET /api/openapi.json, %s', (_name, token) => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({ token });
  });
  afterAll(() => harness.close());

  it('lints clean with redocly: exit 0, no error, no warning', async () => {
    const { text } = await fetchDocument(harness);
    const { exitCode, report } = await lint(text);
    expect(problems(report)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(exitCode).toBe(0);
  });
});

describe('the OpenAPI document', () => {
  let harness: Harness;
  let document: OpenApiDocument;
  let text: string;
  beforeAll(async () => {
    harness = await startHarness();
    ({ text, document } = await fetchDocument(harness));
  });
  afterAll(() => harness.close());

  it('names Task, Run, Event and Error in components, and operations refer to them instead of copying them', () => {
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['Task', 'TaskSummary', 'Run', 'Event', 'Error']));
    const taskFields = Object.keys(document.components.schemas.TaskSummary!.properties as object);
    expect(taskFields).toEqual(expect.arrayContaining(['id', 'type', 'time', 'script', 'status', 'lastStatusUpdated', 'version']));
    const runFields = Object.keys(document.components.schemas.Run!.properties as object);
    for (const [name, operation] of operations(document)) {
      for (const schema of objectSchemas(operation)) {
        const fields = Object.keys(schema.properties as object);
        expect(taskFields.every((field) => fields.includes(field)), `${name} inlines the task's fields`).toBe(false);
        expect(runFields.every((field) => fields.includes(field)), `${name} inlines the run's fields`).toBe(false);
      }
    }
    for (const ref of ['Task', 'TaskSummary', 'Run', 'Error', 'Event']) expect(text).toContain(`"$ref":"#/components/schemas/${ref}"`);
    // Today's answer is far smaller than the 92 KB it was with Task copied into 16 places
    // (about 69 KB before export and import, whose errors alone take 2 KB, added 5 KB; the 403
    // of roles on every route and /metrics, 2 KB more; the three routes of tokens, 4 KB; the
    // three of browsers' sessions, 6.3 KB; GET /api/runs with its RunSummary, and the
    // prefix and recent outcomes of GET /api/tasks, 6.6 KB).
    expect(text.length).toBeLessThan(100_000);
  });

  it('gives every operation an operationId, unique, a summary, and its 4xx errors with the Error schema', () => {
    const ids = new Set<string>();
    for (const [name, operation] of operations(document)) {
      expect(operation.operationId, name).toMatch(/^[a-z][A-Za-z]+$/);
      expect(ids.has(operation.operationId!), `${name}: operationId ${operation.operationId} is taken`).toBe(false);
      ids.add(operation.operationId!);
      expect(operation.summary?.length, `${name} has no summary`).toBeGreaterThan(0);
      const statuses = Object.keys(operation.responses);
      expect(statuses.some((status) => /^4\d\d$/.test(status)), `${name} documents no 4xx`).toBe(true);
      for (const status of statuses) {
        const response = operation.responses[status]!;
        expect(response.description, `${name} ${status}`).not.toMatch(/^(Default Response)?$/);
        // The health check's 503 is its own answer (why the store cannot serve), read by probes.
        const healthAnswer = name === 'GET /healthz' && status === '503';
        if (/^[45]\d\d$/.test(status) && !healthAnswer) expect(response.content?.['application/json']?.schema, `${name} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      }
      if (name.startsWith('GET /api/') || name.includes(' /api/tasks')) expect(statuses, name).toContain('401');
      if (name.includes('{id}')) expect(statuses, name).toContain('404');
    }
  });

  it('lists the error codes of each status, from the registry, and the Error shape', () => {
    const error = document.components.schemas.Error as { required: string[]; properties: { error: { required: string[]; properties: { code: { enum: string[] } } } } };
    expect(error.required).toEqual(['error']);
    expect(error.properties.error.required.sort()).toEqual(['code', 'message']);
    expect(error.properties.error.properties.code.enum).toEqual(expect.arrayContaining(['invalid_request', 'not_found', 'already_exists', 'store_unavailable', 'internal']));
    // Codes only the CLI raises never come from the server.
    expect(error.properties.error.properties.code.enum).not.toContain('daemon_unreachable');
    const submit = document.paths['/api/tasks']!.post!;
    expect(submit.responses['409']!.description).toContain('already_exists');
    expect(submit.responses['413']!.description).toContain('payload_too_large');
  });

  it('describes the event stream: text/event-stream of Event, each event by name, and the Last-Event-ID header', () => {
    const events = document.paths['/api/tasks/{id}/events']!.get!;
    expect(events.responses['200']!.content).toEqual({ 'text/event-stream': { schema: { $ref: '#/components/schemas/Event' } } });
    expect(events.responses['204']).toBeDefined();
    expect(events.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: expect.stringMatching(/^last-event-id$/i) }));
    const oneOf = (document.components.schemas.Event as { oneOf: Array<{ $ref: string }> }).oneOf.map((ref) => ref.$ref);
    const names = ['snapshot', 'status', 'run-started', 'run-skipped', 'run-finished', 'output', 'pruned', 'deleted'];
    expect(oneOf).toHaveLength(names.length);
    for (const ref of oneOf) {
      const schema = document.components.schemas[ref.replace('#/components/schemas/', '')] as { properties: { event: { enum: string[] }; data: Schema } };
      expect(names).toContain(schema.properties.event.enum[0]);
      expect(schema.properties.data).toBeDefined();
    }
    expect(oneOf.map((ref) => (document.components.schemas[ref.replace('#/components/schemas/', '')] as { properties: { event: { enum: string[] } } }).properties.event.enum[0]).sort()).toEqual([...names].sort());
  });
});
