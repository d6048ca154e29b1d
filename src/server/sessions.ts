/**
 * Browsers' sessions (POST /api/session): a browser logs in once with a token and is then
 * known by a cookie, so that a page never holds the token. A session's id is 32 random bytes
 * that only the cookie carries; the store keeps its SHA-256, the name and role of the token
 * it was opened with, and its expiry. It ends when it expires, when the browser logs out, or
 * when its token is no longer accepted (revoked, or removed from the config file).
 *
 * Sessions are read from the store, where every daemon sharing it finds them; a session
 * validated here is kept in memory for a few seconds, so that a page's burst of requests
 * reads the store once. A logout on another daemon therefore ends the session here within
 * that time, as a revoked token is refused within the token registry's refresh.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StoredSession } from '../core/access-records.js';
import { findToken, type SessionCredential, type SessionLookup, type TokenEntry } from './auth.js';
import type { SessionStore } from './ports.js';

/** How long a session lasts unless the daemon is told otherwise (--session-ttl). */
export const defaultSessionTtlMs = 12 * 60 * 60 * 1000;

/** A session's id: 32 random bytes in base64url, 43 characters. */
const idPattern = /^[A-Za-z0-9_-]{43}$/;
/** How long a session read from the store is trusted without reading it again. */
const cacheMs = 5000;
/** Sessions kept in memory at most; the oldest are forgotten first (and read again when used). */
const cacheLimit = 1000;
/** Expired sessions deleted by one login at most: each login pays a bounded cost, and logins outnumber sessions. */
const prunedPerLogin = 100;

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** What binds a session to the value of its token (see StoredSession.tokenCheck). */
const tokenCheck = (id: string, token: TokenEntry): string => createHmac('sha256', id).update(token.sha256).digest('hex');

export interface SessionOptions {
  /** How long a session lasts. */
  ttlMs: number;
  now: () => number;
}

export class Sessions implements SessionLookup {
  /** Sessions read from the store, by the SHA-256 of their id, each with the time it is trusted until. */
  private readonly cache = new Map<string, { session: StoredSession; until: number }>();

  constructor(
    private readonly store: SessionStore,
    /** The tokens the daemon accepts now (the token registry's). */
    private readonly tokens: () => readonly TokenEntry[],
    private readonly options: SessionOptions,
  ) {}

  get ttlMs(): number {
    return this.options.ttlMs;
  }

  /** Opens a session for `token`; undefined when the daemon does not accept the token. */
  async open(token: string): Promise<{ id: string; session: SessionCredential } | undefined> {
    const entry = findToken(this.tokens(), token);
    if (!entry) return undefined;
    const now = this.options.now();
    // Sessions that expired unused are never read again: logins clear them away, a few at a time.
    await this.store.deleteExpiredSessions(now, prunedPerLogin);
    const id = randomBytes(32).toString('base64url');
    const stored: StoredSession = { sha256: sha256Hex(id), name: entry.name, role: entry.role, tokenCheck: tokenCheck(id, entry), createdAt: now, expiresAt: now + this.options.ttlMs };
    await this.store.insertSession(stored);
    return { id, session: { name: entry.name, role: entry.role, expiresAt: stored.expiresAt } };
  }

  async find(id: string): Promise<SessionCredential | undefined> {
    // A cookie that cannot be an id is not looked for: junk costs no read of the store.
    if (!idPattern.test(id)) return undefined;
    const hash = sha256Hex(id);
    const now = this.options.now();
    const stored = await this.read(hash, now);
    if (!stored) return undefined;
    if (now >= stored.expiresAt) {
      await this.end(hash);
      return undefined;
    }
    // The token's role now, not the one it had at the login: a role changed in the config file applies at once.
    const token = this.tokens().find((entry) => entry.name === stored.name);
    // Refused, not deleted: another daemon may know a token made a moment ago that this one
    // reads within its refresh; a session whose token is gone for good expires in its time.
    if (!token || !sameHex(tokenCheck(id, token), stored.tokenCheck)) return undefined;
    return { name: token.name, role: token.role, expiresAt: stored.expiresAt };
  }

  /** Ends the session `id` (a logout); the session it was, if it was live. */
  async close(id: string): Promise<SessionCredential | undefined> {
    const session = await this.find(id);
    if (idPattern.test(id)) await this.end(sha256Hex(id));
    return session;
  }

  private async read(hash: string, now: number): Promise<StoredSession | undefined> {
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.session;
    this.cache.delete(hash);
    const stored = await this.store.findSession(hash);
    if (!stored) return undefined;
    if (this.cache.size >= cacheLimit) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { session: stored, until: now + cacheMs });
    return stored;
  }

  private async end(hash: string): Promise<void> {
    this.cache.delete(hash);
    await this.store.deleteSession(hash);
  }
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
