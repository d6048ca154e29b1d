/** One change asked of the daemon, as the audit log keeps it (server/audit-log.ts writes it, the store keeps it). */
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
