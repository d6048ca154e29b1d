/**
 * A PostgreSQL server of the test's own, for what the shared one must not suffer (a restart):
 * initdb in a temporary directory and pg_ctl, run as the `postgres` system user (the server
 * refuses to run as root), on a free port of 127.0.0.1 with trust authentication. Root only:
 * the tests that use it are itAsRoot.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The server programs of the newest PostgreSQL installed (Debian's layout). */
function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((version) => join(base, version, 'bin')).find((dir) => existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error(`no PostgreSQL server programs under ${base}; install Debian's postgresql package (.ci/run does)`);
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A private server: started, restarted and removed by the test. */
export class PrivatePostgres {
  private constructor(
    private readonly dir: string,
    private readonly bin: string,
    readonly port: number,
  ) {}

  /** `postgres://postgres@127.0.0.1:PORT/postgres`. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates and starts a server. */
  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-pg-'));
    chownSync(dir, uid('postgres'), gid('postgres'));
    const server = new PrivatePostgres(dir, binDir(), await freePort());
    server.asPostgres('initdb', ['-D', server.dataDir, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    server.pgCtl('start');
    return server;
  }

  /** Stops the server cleanly and starts it again (every connection is closed meanwhile). */
  restart(): void {
    this.pgCtl('restart', ['-m', 'fast']);
  }

  /** Stops the server at once and removes it. */
  remove(): void {
    try {
      this.pgCtl('stop', ['-m', 'immediate']);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private pgCtl(action: string, extra: string[] = []): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    this.asPostgres('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'log'), '-w', '-o', options, ...extra, action]);
  }

  private asPostgres(program: string, args: string[]): void {
    execFileSync('runuser', ['-u', 'postgres', '--', join(this.bin, program), ...args], { stdio: 'pipe', timeout: 60_000 });
  }
}

function uid(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gid(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
