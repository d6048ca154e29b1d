/**
 * The daemon in the foreground, as `scheduler daemon` runs it: started, then closed cleanly on
 * the first SIGINT or SIGTERM (runs in progress are ended and recorded as interrupted).
 */
import type { DaemonConfig } from './daemon-config.js';
import { startDaemon } from './daemon.js';

/** Runs a daemon with `config` until SIGINT or SIGTERM, printing to `print`; resolves once it has closed. */
export async function runDaemonUntilSignalled(config: DaemonConfig, print: (line: string) => void): Promise<void> {
  const daemon = await startDaemon(config, print);
  // SIGHUP reads the TLS certificate and key again (a renewed certificate), as nginx does.
  const reload = () => print(daemon.reloadTls());
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      process.off('SIGHUP', reload);
      print(`${signal}: shutting down (runs in progress are ended and recorded as interrupted)`);
      // close() is the same promise however often it is asked for.
      void daemon.close().then(resolve);
    };
    // Once each: the same signal a second time ends the process at once (Node's default).
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGHUP', reload);
  });
}
