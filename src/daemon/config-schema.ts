/**
 * The schema of the daemon's config file (JSON, `--config FILE`): the settings only the file
 * holds (languages, variables for every run, queues, default limits, sandbox paths) and, from
 * the table of options (daemon-options.ts), the key of every option, so that a new option is
 * declared once. Each value's `description` says what it must be: the refusal of a bad value
 * quotes it (config-check.ts). The string formats are checked there, by the same parsers the
 * values then go through.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { envNamePattern, queuePattern } from '../core/execution.js';
import { languagePattern } from '../core/interpreters.js';
import { roles, tokenNameRule, tokenNamePattern } from '../protocol/vocabulary.js';
import { optionRows, type DaemonOption } from './daemon-options.js';

/** An object of named settings, each optional; any other key is refused. */
function Settings<T extends Record<string, TSchema>>(properties: T, description: string) {
  return Type.Object(properties, { additionalProperties: false, description });
}

/** An object whose keys are names of `names` (a pattern, and what it means) and whose values are `values`. */
function NamedValues<V extends TSchema>(names: { pattern: string; description: string }, values: V, description: string) {
  return Type.Record(Type.String(), values, { propertyNames: { type: 'string', ...names }, description });
}

/** The settings only the file holds. */
const FileSettings = Settings(
  {
    interpreters: Type.Optional(
      NamedValues(
        { pattern: languagePattern, description: 'a language name (1 to 32 letters, digits, ".", "_", "-")' },
        Type.Array(Type.String({ minLength: 1, description: 'a word of the command (a non-empty string)' }), {
          minItems: 1,
          description: 'a command: a list of words, e.g. ["ruby"] or ["python3", "-u"]',
        }),
        'an object of language -> command, e.g. {"ruby": ["ruby"]}',
      ),
    ),
    env: Type.Optional(
      NamedValues(
        { pattern: envNamePattern, description: 'a variable name (letters, digits and "_", not starting with a digit)' },
        Type.String({ description: 'a string' }),
        'an object of NAME -> "value" strings',
      ),
    ),
    queues: Type.Optional(
      NamedValues(
        { pattern: queuePattern, description: 'a queue name (1 to 32 letters, digits, ".", "_", "-")' },
        Type.Integer({ minimum: 1, description: 'the most runs at once: a whole number of at least 1' }),
        'an object of queue name -> the most runs at once, e.g. {"gpu": 1}',
      ),
    ),
    limits: Type.Optional(
      Settings(
        {
          cpu: Type.Optional(Type.String({ format: 'duration', description: 'a CPU time in whole seconds, such as "10m"' })),
          memory: Type.Optional(Type.String({ format: 'byte-size', description: 'a byte size such as "512MiB"' })),
          processes: Type.Optional(Type.Integer({ minimum: 1, description: 'a whole number of at least 1' })),
          openFiles: Type.Optional(Type.Integer({ minimum: 32, description: 'a whole number of at least 32' })),
          output: Type.Optional(Type.String({ format: 'byte-size', description: 'a byte size such as "100MiB"' })),
          timeout: Type.Optional(Type.String({ format: 'positive-duration', description: 'a duration longer than 0 such as "1h"' })),
        },
        'an object of limits, e.g. {"memory": "1GiB", "timeout": "1h"}',
      ),
    ),
    tokens: Type.Optional(
      Type.Array(
        Settings(
          {
            name: Type.String({ pattern: tokenNamePattern, description: `a name of ${tokenNameRule}` }),
            role: Type.Union(
              roles.map((role) => Type.Literal(role)),
              { description: `one of ${roles.join(', ')}` },
            ),
            sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'the SHA-256 of the token, 64 lowercase hex digits (printf %s TOKEN | sha256sum)' }),
          },
          'a token: {"name": "ci", "role": "operator", "sha256": "..."}',
        ),
        { description: 'a list of tokens, each {"name", "role", "sha256"}' },
      ),
    ),
    hideOutputFromViewers: Type.Optional(Type.Boolean({ description: 'true or false' })),
    sandbox: Type.Optional(
      Settings(
        {
          readOnlyPaths: Type.Optional(Type.Array(Type.String({ format: 'absolute-path', description: 'an absolute path' }), { description: 'a list of absolute paths' })),
          bwrap: Type.Optional(Type.String({ format: 'absolute-path', description: 'the absolute path of the bwrap program' })),
        },
        'an object, e.g. {"readOnlyPaths": ["/opt/tools"]}',
      ),
    ),
  },
  'a JSON object of settings, e.g. {"interpreters": {"ruby": ["ruby"]}}',
);

/** The config file's object once it passed the schema: its own settings (the options' keys are read by the table's). */
export type ConfigObject = Static<typeof FileSettings>;

/** The schema of an option's value in the file, from its kind (see ConfigForm). */
function optionSchema(row: DaemonOption): TSchema {
  const { format, number, boolean, describe } = row.kind.inConfig;
  const text = {
    ...(format === undefined ? {} : { format }),
    ...(row.kind.choices === undefined ? { minLength: 1 } : { enum: [...row.kind.choices] }),
  };
  const description = describe(typeof row.default === 'string' ? row.default : undefined);
  // A switch: its choices or a boolean, in one schema too.
  if (boolean !== undefined) return Type.Unsafe({ type: ['string', 'boolean'], enum: [...(row.kind.choices ?? []), true, false], description });
  if (number === undefined) return Type.String({ ...text, description });
  // One schema for both forms (not anyOf), so that a refusal has one description to quote.
  return Type.Unsafe({ type: [number.whole ? 'integer' : 'number', 'string'], minimum: number.minimum, ...text, description });
}

type ObjectSchema = TSchema & { properties: Record<string, TSchema> };

/** The whole file: its own settings, then each option at its (maybe dotted) key. */
export function configFileSchema(): TSchema {
  const root: ObjectSchema = { ...FileSettings, properties: { ...FileSettings.properties } };
  for (const row of optionRows) {
    if (row.configKey === undefined) continue;
    const parts = row.configKey.split('.');
    let object = root;
    for (const part of parts.slice(0, -1)) {
      const declared = (object.properties[part] ?? Settings({}, 'an object of settings')) as unknown as ObjectSchema;
      // A copy: the declared settings above stay as they are, whatever is added here.
      const copy: ObjectSchema = { ...declared, properties: { ...declared.properties } };
      object.properties[part] = copy;
      object = copy;
    }
    object.properties[parts.at(-1)!] = optionSchema(row);
  }
  return root;
}
