/** Validators and serialisers compiled at a route's first use (src/server/lazy-compilers.ts). */
import { Ajv } from 'ajv';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { compileDeferredSchemasNow, compileSchemasOnFirstUse } from '../../src/server/lazy-compilers.js';
import { startHarness, type Harness } from './harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function appWithDeferredCompilers() {
  const app = Fastify({ logger: false });
  const ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, strict: false });
  compileSchemasOnFirstUse(app, ({ schema }) => ajv.compile(schema));
  return app;
}

describe('schemas compiled on first use', () => {
  it("every route of the daemon's API compiles its request and response schemas", async () => {
    harness = await startHarness();
    await harness.app.ready();
    expect(() => compileDeferredSchemasNow(harness!.app)).not.toThrow();
    // And the API answers through them afterwards as before.
    const status = await harness.app.inject({ method: 'GET', url: '/api/status' });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toHaveProperty('version');
  });

  it('a schema that cannot compile fails its first use, not the start, and the forced compile finds it', async () => {
    const app = appWithDeferredCompilers();
    app.get('/broken', { schema: { response: { 200: { type: 'object', properties: { n: { type: 'no-such-type' } } } } } }, async () => ({ n: 1 }));
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/broken' })).statusCode).toBe(500);
    expect(() => compileDeferredSchemasNow(app)).toThrow();
    await app.close();
  });

  it('validation through a deferred validator coerces, fills defaults and reports errors as Ajv does', async () => {
    const app = appWithDeferredCompilers();
    app.get(
      '/sum',
      {
        schema: {
          querystring: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer', default: 10 } }, required: ['a'], additionalProperties: false },
          response: { 200: { type: 'object', properties: { sum: { type: 'integer' } } } },
        },
      },
      async (request) => {
        const { a, b } = request.query as { a: number; b: number };
        return { sum: a + b, dropped: 'not in the response schema' };
      },
    );
    await app.ready();
    const ok = await app.inject({ method: 'GET', url: '/sum?a=5' });
    expect(ok.statusCode).toBe(200);
    // The serialiser is the schema's: the field it does not name is left out.
    expect(ok.body).toBe('{"sum":15}');
    const bad = await app.inject({ method: 'GET', url: '/sum?a=five' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/querystring\/a must be integer/);
    const missing = await app.inject({ method: 'GET', url: '/sum' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toMatch(/must have required property 'a'/);
    await app.close();
  });
});
