/**
 * Checks a config file's object against its schema (config-schema.ts) with Ajv, and refuses
 * the first fault with a message that names the key, what it must be (the schema's
 * description) and what it is:
 *
 *     --config /etc/scheduler.json: "limits.memory": must be a byte size such as "512MiB", not "lots"
 */
import { isAbsolute } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseByteSize } from '../core/byte-size.js';
import { parseDuration } from '../core/duration.js';
import { SchedulerError } from '../core/errors.js';
import { configFileSchema, type ConfigObject } from './config-schema.js';
import { parseListen, parseWholeNumber } from './daemon-config.js';

/** The string formats of the schema, each checked by the parser its values then go through. */
const formats: Record<string, (text: string) => boolean> = {
  'byte-size': (text) => parses(() => parseByteSize(text, 'value')),
  duration: (text) => parses(() => parseDuration(text, 'value')),
  'positive-duration': (text) => parses(() => parseDuration(text, 'value') > 0),
  'whole-number': (text) => parses(() => parseWholeNumber(text, 'value')),
  listen: (text) => parses(() => parseListen(text)),
  'absolute-path': (text) => isAbsolute(text),
};

function parses(parse: () => unknown): boolean {
  try {
    return parse() !== false;
  } catch {
    return false;
  }
}

let validator: ValidateFunction | undefined;

/** Compiled once, on the first file read: a daemon without --config never needs it. */
function validate(): ValidateFunction {
  if (validator === undefined) {
    // verbose: each error carries the schema it broke and the value, which its message quotes.
    const ajv = new Ajv({ allErrors: false, strict: false, verbose: true, coerceTypes: false, useDefaults: false, removeAdditional: false });
    for (const [name, check] of Object.entries(formats)) ajv.addFormat(name, { type: 'string', validate: check });
    validator = ajv.compile(configFileSchema());
  }
  return validator;
}

/** `object` as the schema allows it; invalid_request, prefixed by `label` and naming the key, when it does not. */
export function checkConfigObject(object: unknown, label: string): ConfigObject & Record<string, unknown> {
  const check = validate();
  if (check(object)) return object as ConfigObject & Record<string, unknown>;
  const error = check.errors![0]!;
  throw new SchedulerError('invalid_request', `${label}: ${describe(error, object)}`);
}

/** What is wrong, saying where. */
function describe(error: ErrorObject, root: unknown): string {
  const path = pathOf(error.instancePath, root);
  const schema = (error.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  if (error.keyword === 'additionalProperties') {
    const extra = keyAt(path, (error.params as { additionalProperty: string }).additionalProperty);
    const known = Object.keys(schema.properties ?? {}).map((name) => keyAt(path, name));
    return `"${extra}" is not a setting of the config file (known: ${known.join(', ')})`;
  }
  const where = path.length === 0 ? '' : `"${keyOf(path)}": `;
  if (error.propertyName !== undefined) return `${where}${JSON.stringify(error.propertyName)} is not ${schema.description ?? 'a name it takes'}`;
  if (error.keyword === 'propertyNames') return `${where}${JSON.stringify((error.params as { propertyName: string }).propertyName)} is not a name it takes`;
  return `${where}must be ${schema.description ?? error.message ?? 'something else'}, not ${shown(error.data)}`;
}

/** The JSON pointer `pointer` as keys and array indexes, read along `root`. */
function pathOf(pointer: string, root: unknown): Array<string | number> {
  const path: Array<string | number> = [];
  let value = root;
  for (const part of pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    const step = Array.isArray(value) ? Number(part) : part;
    path.push(step);
    value = (value as Record<string | number, unknown>)[step];
  }
  return path;
}

/** A key as the messages write it: `limits.memory`, `interpreters.perl[1]`. */
function keyOf(path: ReadonlyArray<string | number>): string {
  return path.map((step, index) => (typeof step === 'number' ? `[${step}]` : index === 0 ? step : `.${step}`)).join('');
}

function keyAt(path: ReadonlyArray<string | number>, name: string): string {
  return keyOf([...path, name]);
}

/** A value as JSON, cut short when long. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
