/**
 * One test file's end-to-end context: the daemons, temp directories, proxies and PostgreSQL
 * schemas it makes, all cleaned up after the file (afterAll), even when a test fails half-way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { DaemonProcess, type DaemonOptions } from './daemon.js';
import { connectForTests, randomSchemaName } from './postgres.js';
import { RecordingProxy } from './recording-proxy.js';
import { postgresStoreUrl, schemaOfStoreUrl } from './test-store.js';

/** One test file's daemons and temp directories, cleaned up after the file. */
export class E2e {
  private readonly daemons: DaemonProcess[] = [];
  private readonly dirs: string[] = [];
  private readonly proxies: RecordingProxy[] = [];
  /** The PostgreSQL schemas of its daemons (and of sharedPostgresStore()), dropped after the file. */
  private readonly schemas = new Set<string>();

  /**
   * A `--store` URL on the test server with a fresh schema, dropped after the file: for
   * tests of several daemons sharing one store (give it as DaemonOptions.store to each).
   */
  sharedPostgresStore(): string {
    const schema = randomSchemaName();
    this.schemas.add(schema);
    return postgresStoreUrl(schema);
  }

  /** A RecordingProxy in front of `daemon`, closed after the file. */
  async proxy(daemon: DaemonProcess): Promise<RecordingProxy> {
    const proxy = await new RecordingProxy(daemon.url).start();
    this.proxies.push(proxy);
    return proxy;
  }

  /** A fresh temp directory, removed after the file. */
  tempDir(prefix = 'scheduler-e2e-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /**
   * Spawns a daemon (on a fresh data directory unless one is given) without waiting for it
   * to listen: see DaemonProcess.launch. It is stopped after the file like the others.
   */
  launchDaemon(options: DaemonOptions = {}): DaemonProcess {
    const daemon = DaemonProcess.launch(options.dataDir ?? join(this.tempDir(), 'data'), options);
    this.track(daemon);
    return daemon;
  }

  /** Starts a daemon (on a fresh data directory unless one is given). */
  async startDaemon(options: DaemonOptions = {}): Promise<DaemonProcess> {
    const dataDir = options.dataDir ?? join(this.tempDir(), 'data');
    // Tracked before it listens: one that fails to start may have created its schema already.
    const daemon = DaemonProcess.launch(dataDir, options);
    this.track(daemon);
    try {
      await daemon.listening(options.startTimeoutMs);
    } catch (error) {
      await daemon.kill();
      throw error;
    }
    return daemon;
  }

  /** Cleans `daemon` up after the file, with its schema when it has one of the harness's. */
  private track(daemon: DaemonProcess): void {
    this.daemons.push(daemon);
    // Only the schemas the harness named (e2e_..., test_...): a URL a test wrote itself is its own.
    if (daemon.storeUrl !== undefined && /^(e2e|test)_[0-9a-f]+$/.test(schemaOfStoreUrl(daemon.storeUrl))) {
      this.schemas.add(schemaOfStoreUrl(daemon.storeUrl));
    }
  }

  /** Starts a new daemon on the data directory of `daemon`, which must have exited. */
  async restart(daemon: DaemonProcess, options: DaemonOptions = {}): Promise<DaemonProcess> {
    if (daemon.running) throw new Error('restart: the previous daemon is still running; stop() or kill() it first');
    return this.startDaemon({ ...daemon.options, ...options, dataDir: daemon.dataDir });
  }

  /** Stops every daemon still running and removes the temp directories. */
  async cleanup(): Promise<void> {
    await Promise.all(this.proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(
      this.daemons.map((daemon) => daemon.stop(5_000).catch(() => daemon.kill())),
    );
    this.daemons.length = 0;
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    await this.dropSchemas();
  }

  /** Drops the PostgreSQL schemas of the file's daemons, once they have all exited. */
  private async dropSchemas(): Promise<void> {
    if (this.schemas.size === 0) return;
    const admin = await connectForTests();
    try {
      for (const schema of this.schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      this.schemas.clear();
    } finally {
      await admin.end();
    }
  }
}

/** The E2e context of the calling test file, cleaned up in afterAll. */
export function useE2e(): E2e {
  const e2e = new E2e();
  afterAll(() => e2e.cleanup());
  return e2e;
}
