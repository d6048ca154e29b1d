/**
 * The PostgreSQL driver is loaded only by a daemon on a PostgreSQL store. The program runs as
 * one bundled file, into which the PostgreSQL store's modules are inlined; a static import of
 * pg in them once loaded the driver in every command and every daemon on SQLite (a fifth of
 * a command's start). A module given to node with --import reports, as the process exits,
 * whether pg was loaded; the daemon on PostgreSQL shows that the report can say yes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();

/** NODE_OPTIONS that make a process print, as it exits, whether it loaded pg. */
function reportingPg(): Record<string, string> {
  const probe = join(e2e.tempDir('scheduler-pg-probe-'), 'probe.mjs');
  writeFileSync(
    probe,
    `import { createRequire } from 'node:module';
const { cache } = createRequire(import.meta.url);
process.on('exit', () => {
  const loaded = Object.keys(cache).some((path) => path.includes('/node_modules/pg/'));
  process.stderr.write(loaded ? 'probe: pg loaded\\n' : 'probe: pg not loaded\\n');
});
`,
  );
  return { NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` };
}

describe('loading the PostgreSQL driver', () => {
  it('a command does not load it', async () => {
    const result = await runCli(['--help'], { env: reportingPg() });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('probe: pg not loaded');
  });

  /** What the probe said as `daemon` exited (its stderr may come in after the exit). */
  async function probeOf(daemon: DaemonProcess): Promise<string> {
    await daemon.stop();
    return waitFor('the probe to report', () => /^(probe: [^\n]*)\n/m.exec(daemon.stderr)?.[1], { timeoutMs: 10_000, describe: () => daemon.stderr });
  }

  it('a daemon on SQLite does not load it, one on PostgreSQL does', async () => {
    expect(await probeOf(await e2e.startDaemon({ store: 'sqlite', env: reportingPg() }))).toBe('probe: pg not loaded');
    expect(await probeOf(await e2e.startDaemon({ store: 'postgres', env: reportingPg() }))).toBe('probe: pg loaded');
  });
});
