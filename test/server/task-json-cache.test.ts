/** The cache of serialised tasks on its own: what answers when, its bounds, its invalidation. */
import { describe, expect, it } from 'vitest';
import { TaskJsonCache, type TaskJsonCacheLimits } from '../../src/server/task-json-cache.js';

/** A cache over a write count the test moves by hand. */
function cacheOf(limits: Partial<TaskJsonCacheLimits> = {}) {
  const store = { writes: 0 };
  const cache = new TaskJsonCache(() => store.writes, { maxEntries: 100, maxBytes: 1_000_000, maxEntryBytes: 1_000, ...limits });
  /** Puts `text` for `id` at `version`, as a GET that read it does. */
  const fill = (id: string, version: number, text: string) => cache.put(id, version, Buffer.from(text), cache.mark());
  return { store, cache, fill };
}

const text = (kept: { body: Buffer } | undefined) => kept?.body.toString();

describe('TaskJsonCache', () => {
  it('answers with no read while nothing was written, and only for the task kept', () => {
    const { cache, fill } = cacheOf();
    expect(cache.unchanged('a')).toBeUndefined();
    fill('a', 3, '{"a":3}');
    expect(cache.unchanged('a')).toMatchObject({ version: 3 });
    expect(text(cache.unchanged('a'))).toBe('{"a":3}');
    expect(cache.unchanged('b')).toBeUndefined();
  });

  it('after a write anywhere, answers only for the version the store has, then again with no read', () => {
    const { store, cache, fill } = cacheOf();
    fill('a', 3, '{"a":3}');
    store.writes = 7;
    expect(cache.unchanged('a')).toBeUndefined();
    // The store says version 4: the kept version 3 is stale.
    expect(cache.atVersion('a', 4, cache.mark())).toBeUndefined();
    expect(cache.unchanged('a')).toBeUndefined();
    // Another task was written; this one is still at 3: kept, and known current as of the mark.
    expect(text(cache.atVersion('a', 3, cache.mark()))).toBe('{"a":3}');
    expect(text(cache.unchanged('a'))).toBe('{"a":3}');
    store.writes = 8;
    expect(cache.unchanged('a')).toBeUndefined();
  });

  it('an entry filled from a read after writes that began before the mark is checked by version again', () => {
    const { store, cache } = cacheOf();
    const mark = cache.mark();
    // A write lands between the mark and the read: the entry is current as of later than the mark.
    store.writes = 1;
    cache.put('a', 2, Buffer.from('{"a":2}'), mark);
    expect(cache.unchanged('a')).toBeUndefined();
    expect(text(cache.atVersion('a', 2, cache.mark()))).toBe('{"a":2}');
    expect(text(cache.unchanged('a'))).toBe('{"a":2}');
  });

  it('replaces the entry of a task with its newer version', () => {
    const { store, cache, fill } = cacheOf();
    fill('a', 1, 'one');
    store.writes = 1;
    fill('a', 2, 'two');
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(3);
    expect(cache.atVersion('a', 1, cache.mark())).toBeUndefined();
    expect(text(cache.unchanged('a'))).toBe('two');
  });

  it('forgets a task invalidated, whatever the version, and only that task', () => {
    const { cache, fill } = cacheOf();
    fill('a', 1, 'a1');
    fill('b', 1, 'b1');
    cache.invalidate('a');
    expect(cache.unchanged('a')).toBeUndefined();
    expect(cache.atVersion('a', 1, cache.mark())).toBeUndefined();
    expect(text(cache.unchanged('b'))).toBe('b1');
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(2);
  });

  it('drops a put of what was read before an invalidation (the read may be what it invalidated)', () => {
    const { cache } = cacheOf();
    const mark = cache.mark();
    cache.invalidate('a');
    cache.put('a', 1, Buffer.from('stale'), mark);
    expect(cache.size).toBe(0);
    // A read after the invalidation is kept.
    cache.put('a', 1, Buffer.from('fresh'), cache.mark());
    expect(text(cache.unchanged('a'))).toBe('fresh');
  });

  it('keeps at most maxEntries, evicting first those not used lately', () => {
    const { cache, fill } = cacheOf({ maxEntries: 3 });
    fill('a', 1, 'a');
    fill('b', 1, 'b');
    fill('c', 1, 'c');
    // d arrives: all three were new, so the oldest, a, goes.
    fill('d', 1, 'd');
    expect(cache.size).toBe(3);
    expect(cache.unchanged('a')).toBeUndefined();
    // b is read again; c is not: e pushes out c, then f pushes out d, and b stays.
    cache.unchanged('b');
    fill('e', 1, 'e');
    cache.unchanged('b');
    fill('f', 1, 'f');
    expect(cache.size).toBe(3);
    expect(['b', 'c', 'd', 'e', 'f'].filter((id) => cache.unchanged(id) !== undefined)).toEqual(['b', 'e', 'f']);
  });

  it('keeps at most maxBytes in all, evicting as many entries as it takes', () => {
    const { cache, fill } = cacheOf({ maxBytes: 10 });
    fill('a', 1, '1234');
    fill('b', 1, '1234');
    expect(cache.bytes).toBe(8);
    fill('c', 1, '123456789');
    expect(cache.bytes).toBe(9);
    expect(cache.size).toBe(1);
    expect(text(cache.unchanged('c'))).toBe('123456789');
  });

  it('does not keep an answer larger than maxEntryBytes, nor evict others for it', () => {
    const { cache, fill } = cacheOf({ maxEntryBytes: 5 });
    fill('small', 1, '12345');
    fill('large', 1, '123456');
    expect(cache.unchanged('large')).toBeUndefined();
    expect(text(cache.unchanged('small'))).toBe('12345');
    expect(cache.bytes).toBe(5);
  });
});
