/**
 * The change feed's versioned wake-ups: a change another node made is published with its
 * version (the cluster watch learns it from the store, perhaps after this node's engine told
 * it already), and a waiter that already knows that version sleeps on; the engine's own
 * publications, without a version, wake everyone as before.
 */
import { describe, expect, it } from 'vitest';
import { ChangeFeed, type ChangeNotice } from '../../src/engine/change-feed.js';
import { FakeClock } from '../support/fake-clock.js';

/** What a waiter has heard so far (undefined: nothing yet). */
function listen(next: Promise<ChangeNotice>): { heard: ChangeNotice | undefined } {
  const state: { heard: ChangeNotice | undefined } = { heard: undefined };
  void next.then((notice) => (state.heard = notice));
  return state;
}

describe('ChangeFeed', () => {
  it('wakes a waiter on a version it does not know, not on the one it knows', async () => {
    const clock = new FakeClock();
    const feed = new ChangeFeed(clock);
    const knowsFive = listen(feed.subscribe('t', 30_000, 5).next);
    const knowsNothing = listen(feed.subscribe('t', 30_000).next);
    feed.publish('t', 'changed', 5);
    await Promise.resolve();
    expect(knowsFive.heard).toBeUndefined();
    expect(knowsNothing.heard).toBe('changed');
    expect(feed.waiting).toBe(1);
    feed.publish('t', 'changed', 6);
    await Promise.resolve();
    expect(knowsFive.heard).toBe('changed');
    expect(feed.waiting).toBe(0);
  });

  it('wakes every waiter on a publication without a version, and on a deletion', async () => {
    const feed = new ChangeFeed(new FakeClock());
    const first = listen(feed.subscribe('t', 30_000, 5).next);
    feed.publish('t', 'changed');
    const second = listen(feed.subscribe('t', 30_000, 6).next);
    feed.publish('t', 'deleted', 6);
    await Promise.resolve();
    expect([first.heard, second.heard]).toEqual(['changed', 'deleted']);
  });

  it('close ends every wait at once, as a timeout, and later waits end at once too', async () => {
    const clock = new FakeClock();
    const feed = new ChangeFeed(clock);
    const one = listen(feed.subscribe('a', 30_000).next);
    const two = listen(feed.subscribe('b', 30_000, 3).next);
    feed.close();
    await Promise.resolve();
    expect([one.heard, two.heard]).toEqual(['timeout', 'timeout']);
    expect(feed.waiting).toBe(0);
    expect(await feed.subscribe('a', 30_000).next).toBe('timeout');
  });
});
