/**
 * The tokens the daemon accepts: its own (an admin's), those the config file declares, and
 * those made through the API (POST /api/tokens, `scheduler token create`), which the store
 * keeps as their SHA-256 alone. Requests are checked against a copy in memory; the made
 * tokens are read again from the store every `refreshMs` (other daemons sharing a PostgreSQL
 * store make and revoke tokens too: a token revoked on another node works here for at most
 * that long) and at once after a change made here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SchedulerError } from '../core/errors.js';
import type { Role } from '../protocol/vocabulary.js';
import type { TokenEntry } from './auth.js';
import type { TokenStore } from './ports.js';

/** Where a token comes from. */
export type TokenSource = 'daemon' | 'config' | 'created';

/** A token as listed: never its value. */
export interface TokenView {
  name: string;
  role: Role;
  source: TokenSource;
  createdAt: number | null;
}

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export class TokenRegistry {
  private created = new Map<string, TokenEntry & { createdAt: number }>();
  /** The fixed and the made ones together, built again when the made ones are read (not per request). */
  private all: readonly TokenEntry[];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The daemon's own and the config file's, fixed for the daemon's life. */
    private readonly fixed: ReadonlyArray<TokenEntry & { source: 'daemon' | 'config' }>,
    private readonly store: TokenStore | undefined,
    private readonly options: { refreshMs: number; now: () => number },
  ) {
    this.all = fixed;
  }

  /** Whether requests need a token: the daemon has one of its own or the config file declares some. */
  get enforced(): boolean {
    return this.fixed.length > 0;
  }

  /**
   * Reads the made tokens, then again every refreshMs. A store that cannot be read now does
   * not keep the daemon from serving: the made tokens are refused until a later read works.
   */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.options.refreshMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Every token the daemon accepts now. */
  entries(): readonly TokenEntry[] {
    return this.all;
  }

  list(): TokenView[] {
    const fixed = this.fixed.map(({ name, role, source }) => ({ name, role, source, createdAt: null }));
    const made = [...this.created.values()].map(({ name, role, createdAt }) => ({ name, role, source: 'created' as const, createdAt }));
    return [...fixed, ...made];
  }

  /** Makes a token: stored as its SHA-256, returned this once. */
  async create(name: string, role: Role): Promise<{ token: string; createdAt: number }> {
    const store = this.requireStore();
    if (!this.enforced) {
      throw new SchedulerError('status_conflict', 'this daemon asks for no token, so a token would not be checked: start it with --token-file (or SCHEDULER_TOKEN) first');
    }
    if (this.fixed.some((entry) => entry.name === name)) {
      throw new SchedulerError('already_exists', `"${name}" is the name of a token of the daemon or its config file: choose another name`);
    }
    const token = `sch_${randomBytes(32).toString('base64url')}`;
    const createdAt = this.options.now();
    await store.insertToken({ name, role, sha256: sha256Hex(token), createdAt });
    await this.refresh();
    return { token, createdAt };
  }

  /** Revokes a made token; the daemon's own and the config file's are changed where they are declared. */
  async revoke(name: string): Promise<void> {
    const fixed = this.fixed.find((entry) => entry.name === name);
    if (fixed) {
      throw new SchedulerError('status_conflict', `the token "${name}" is ${fixed.source === 'daemon' ? "the daemon's own (--token-file)" : 'declared in the config file'}: remove it there and restart the daemon`);
    }
    if (!(await this.requireStore().deleteToken(name))) throw new SchedulerError('not_found', `no token named "${name}"; scheduler token list shows them`);
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    if (!this.store) return;
    const stored = await this.store.listTokens();
    this.created = new Map(stored.map((token) => [token.name, { name: token.name, role: token.role as Role, sha256: Buffer.from(token.sha256, 'hex'), createdAt: token.createdAt }]));
    this.all = [...this.fixed, ...this.created.values()];
  }

  private requireStore(): TokenStore {
    if (!this.store) throw new SchedulerError('internal', 'this daemon keeps no tokens');
    return this.store;
  }
}
