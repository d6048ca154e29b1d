/**
 * Fastify compiles every route's request validators (Ajv) and response serialisers
 * (fast-json-stringify) while the server gets ready: about 200 ms of CPU at each start for
 * this API, most of it for routes a given run of the daemon never answers. These compilers
 * defer each compile to the route's first use, so a restarted daemon serves sooner
 * (docs/benchmarks.md, figure 7c); the first request of a route pays its compile (a few ms).
 *
 * A schema that does not compile then fails its route's first request, not the start:
 * test/server/lazy-compilers.test.ts compiles every route's schemas so that such a mistake
 * fails the tests.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';

type Validator = ((data: unknown, context?: object) => boolean) & { errors?: unknown; schemaEnv?: unknown };
type Serializer = (data: unknown) => string;

/** Every deferred compile, so that a test can run them all now. */
const pending = new WeakMap<FastifyInstance, Array<() => void>>();

/** A validator that compiles on its first call; it keeps the compiled function's errors where Fastify reads them. */
function deferredValidator(compile: () => Validator, register: (force: () => void) => void): Validator {
  let compiled: Validator | undefined;
  const validate: Validator = (data, context) => {
    compiled ??= compile();
    const result = compiled(data, context);
    validate.errors = compiled.errors;
    return result;
  };
  // Fastify passes the parent object to Ajv's functions (they have schemaEnv), so that Ajv may
  // coerce or default a root value; the deferred function says it is one of them.
  validate.schemaEnv = true;
  register(() => void (compiled ??= compile()));
  return validate;
}

function deferredSerializer(compile: () => Serializer, register: (force: () => void) => void): Serializer {
  let compiled: Serializer | undefined;
  register(() => void (compiled ??= compile()));
  return (data) => (compiled ??= compile())(data);
}

/**
 * Installs the deferring compilers on an app: validators from `validatorOf` (which Ajv
 * instance compiles which part is the caller's policy), serialisers from Fastify's own
 * fast-json-stringify factory with the app's shared schemas.
 */
export function compileSchemasOnFirstUse(app: FastifyInstance, validatorOf: FastifySchemaCompiler<FastifySchema>): void {
  const forces: Array<() => void> = [];
  pending.set(app, forces);
  const register = (force: () => void) => forces.push(force);
  app.setValidatorCompiler((route) => deferredValidator(() => validatorOf(route) as unknown as Validator, register) as unknown as ReturnType<FastifySchemaCompiler<FastifySchema>>);
  const buildFactory = SerializerSelector();
  let factory: ((route: { schema: unknown }) => Serializer) | undefined;
  const serializerCompiler: FastifySerializerCompiler<unknown> = (route) =>
    deferredSerializer(() => {
      // The shared schemas (app.addSchema) are all added before the first request.
      factory ??= buildFactory(app.getSchemas(), {}) as (route: { schema: unknown }) => Serializer;
      return factory(route);
    }, register);
  app.setSerializerCompiler(serializerCompiler);
}

/** Compiles now every validator and serialiser deferred so far (for tests: a schema that cannot compile throws here). */
export function compileDeferredSchemasNow(app: FastifyInstance): void {
  for (const force of pending.get(app) ?? []) force();
}
