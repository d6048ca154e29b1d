import { describe, expect, it } from 'vitest';
import { relativeTime } from '../../src/cli/render.js';

describe('relativeTime', () => {
  const now = Date.parse('2026-11-25T10:00:00.000Z');
  const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();

  it('says how far ahead or behind, to the tenth of a second', () => {
    expect(relativeTime(at(9_500), now)).toBe('in 9.5s');
    expect(relativeTime(at(-180_000), now)).toBe('3m0s ago');
    expect(relativeTime(at(400), now)).toBe('in 400ms');
    expect(relativeTime(at(-260), now)).toBe('300ms ago');
  });

  it('says "now" when the instant is within a twentieth of a second, whichever side', () => {
    expect(relativeTime(at(0), now)).toBe('now');
    expect(relativeTime(at(-40), now)).toBe('now');
    expect(relativeTime(at(49), now)).toBe('now');
  });

  it('prints "-" for no instant', () => {
    expect(relativeTime(null, now)).toBe('-');
  });
});
