import { describe, expect, it } from 'vitest';
import { withFields } from '../../src/core/with-fields.js';

describe('withFields', () => {
  it("makes what a spread makes: the base's fields, then the given ones, which win", () => {
    const base = { run: 3, outcome: 'succeeded' as const, error: null };
    const made = withFields(base, { outcome: 'killed' as const, waitedMs: 12 });
    expect(made).toEqual({ run: 3, outcome: 'killed', error: null, waitedMs: 12 });
    expect(Object.keys(made)).toEqual(['run', 'outcome', 'error', 'waitedMs']);
  });

  it('makes a new object and leaves both it was made from as they were', () => {
    const base = { a: 1 };
    const fields = { b: 2 };
    const made = withFields(base, fields);
    expect(made).not.toBe(base);
    expect(made).not.toBe(fields);
    expect(base).toEqual({ a: 1 });
    expect(fields).toEqual({ b: 2 });
  });

  it('keeps a field the given ones set to undefined, as a spread does', () => {
    const made = withFields({ a: 1, b: 2 }, { b: undefined });
    expect('b' in made).toBe(true);
    expect(made.b).toBeUndefined();
  });
});
