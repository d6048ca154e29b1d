/**
 * What the store keeps of who may use the daemon and what they did: the tokens made through
 * the API, and the audit log's entries. The server writes them, the store keeps them; both
 * name them from here.
 */

/** A token made through the API: only its SHA-256 is kept, never the token. */
export interface StoredToken {
  name: string;
  /** One of the roles (protocol/vocabulary.ts); the store keeps it as text. */
  role: string;
  /** The SHA-256 of the token, 64 lowercase hex digits. */
  sha256: string;
  createdAt: number;
}

/** One change asked of the daemon, as the audit log keeps it (server/audit-log.ts writes it). */
export interface AuditEntry {
  at: number;
  /** The token's name and role; null when the daemon asks for no token. */
  token: string | null;
  role: string | null;
  method: string;
  path: string;
  /** The route's operationId (submitTask, stopTask...); null when no route matched. */
  operation: string | null;
  taskId: string | null;
  /** The status the request was answered with (a refusal is recorded too). */
  status: number;
  /** The client's address. */
  remote: string;
}

/**
 * A browser's session (POST /api/session). The store keeps the SHA-256 of its id, never the
 * id the cookie carries: a copy of the database opens no session.
 */
export interface StoredSession {
  /** The SHA-256 of the session's id, 64 lowercase hex digits. */
  sha256: string;
  /** The name and role of the token the session was opened with. */
  name: string;
  role: string;
  /**
   * An HMAC of the token's SHA-256 keyed by the session's id (hex): the session stands only
   * while a token of its name with that same value is accepted, so a token revoked and made
   * again under its name does not keep the old one's sessions. Keyed by the id, which the
   * store does not hold, it gives no handle on the token to whoever reads the database.
   */
  tokenCheck: string;
  createdAt: number;
  expiresAt: number;
}
