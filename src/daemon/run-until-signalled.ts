/**
 * The daemon in the foreground, as `scheduler daemon` runs it: started, then closed cleanly on
 * the first SIGINT or SIGTERM (runs in progress are ended and recorded as interrupted).
 */
import type { DaemonConfig } from './daemon-config.js';
import { startDaemon } from './daemon.js';

type StopSignal = 'SIGINT' | 'SIGTERM';

/** What the foreground needs of a started daemon. */
export interface ForegroundDaemon {
  close(): Promise<void>;
  /** Reads the TLS certificate and key again; says what it did. */
  reloadTls(): string;
}

/** Runs a daemon with `config` until SIGINT or SIGTERM, printing to `print`; resolves once it has closed. */
export function runDaemonUntilSignalled(config: DaemonConfig, print: (line: string) => void): Promise<void> {
  return runUntilSignalled(() => startDaemon(config, print), print);
}

/** Starts a daemon with `start`, then closes it on the first SIGINT or SIGTERM, even one that came while it started. */
export async function runUntilSignalled(start: () => Promise<ForegroundDaemon>, print: (line: string) => void): Promise<void> {
  // Listened for before the start: Node leaves a signal nobody listens to to its default, the
  // end of the process, so a SIGTERM sent as soon as the daemon said it listens (a service
  // manager, a test) could kill it before it closed anything. One that comes while it starts
  // closes it once started. Once: a second signal ends the process at once (Node's default),
  // which is also the way out of a start or a close that takes long.
  let started = false;
  let stopWith: (signal: StopSignal) => void = () => {};
  const signalled = new Promise<StopSignal>((resolve) => (stopWith = resolve));
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const listener = () => {
      unlisten();
      if (!started) print(`${signal}: shutting down once started (send it again to end at once)`);
      stopWith(signal);
    };
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  const unlisten = () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
  let daemon: ForegroundDaemon;
  try {
    daemon = await start();
  } catch (error) {
    unlisten();
    throw error;
  }
  started = true;
  // SIGHUP reads the TLS certificate and key again (a renewed certificate), as nginx does.
  const reload = () => print(daemon.reloadTls());
  process.on('SIGHUP', reload);
  const signal = await signalled;
  process.off('SIGHUP', reload);
  print(`${signal}: shutting down (runs in progress are ended and recorded as interrupted)`);
  await daemon.close();
}
