/**
 * The daemon in the foreground and its signals. A SIGTERM that comes while the daemon starts,
 * or right after it said it listens, closes it once started: with nobody listening, Node
 * would leave the signal to its default and the process would end without closing anything
 * (a service manager stopping a daemon it has just started). The signals are emitted on this
 * process's own `process` object, which calls the listeners without a real signal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runUntilSignalled, type ForegroundDaemon } from '../../src/daemon/run-until-signalled.js';
import { waitFor } from '../support/wait.js';

/** A daemon whose start ends when the test says. */
function startedByTest() {
  const closed: string[] = [];
  let finishStart!: (daemon: ForegroundDaemon) => void;
  let failStart!: (error: Error) => void;
  const starting = new Promise<ForegroundDaemon>((resolve, reject) => {
    finishStart = resolve;
    failStart = reject;
  });
  const daemon: ForegroundDaemon = {
    close: async () => void closed.push('closed'),
    reloadTls: () => 'reloaded',
  };
  return { start: () => starting, finish: () => finishStart(daemon), fail: failStart, closed };
}

const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const listening = () => signals.map((signal) => process.listenerCount(signal));
const before = listening();

afterEach(() => {
  // Every test leaves the process as it found it.
  expect(listening()).toEqual(before);
});

describe('a daemon in the foreground', () => {
  it('closes on SIGTERM once started, and stops listening to signals', async () => {
    const lines: string[] = [];
    const daemon = startedByTest();
    const running = runUntilSignalled(daemon.start, (line) => lines.push(line));
    daemon.finish();
    await waitFor('SIGHUP to be listened to', () => listening()[2]! > before[2]! || undefined);
    process.emit('SIGHUP');
    expect(lines).toEqual(['reloaded']);
    process.emit('SIGTERM');
    await running;
    expect(daemon.closed).toEqual(['closed']);
    expect(lines).toEqual(['reloaded', 'SIGTERM: shutting down (runs in progress are ended and recorded as interrupted)']);
  });

  it('a SIGTERM while it starts closes it once started, instead of being lost or ending the process', async () => {
    const lines: string[] = [];
    const daemon = startedByTest();
    const running = runUntilSignalled(daemon.start, (line) => lines.push(line));
    expect(listening()[1]).toBe(before[1]! + 1); // listened to from the start
    process.emit('SIGTERM');
    expect(lines).toEqual(['SIGTERM: shutting down once started (send it again to end at once)']);
    // No longer listened to: a second signal would end the process at once, as Node's default does.
    expect(listening()).toEqual(before);
    expect(daemon.closed).toEqual([]);
    daemon.finish();
    await running;
    expect(daemon.closed).toEqual(['closed']);
    expect(lines.at(-1)).toBe('SIGTERM: shutting down (runs in progress are ended and recorded as interrupted)');
  });

  it('a start that fails stops listening to the signals and says why', async () => {
    const daemon = startedByTest();
    const running = runUntilSignalled(daemon.start, () => {});
    daemon.fail(new Error('the port is taken'));
    await expect(running).rejects.toThrow('the port is taken');
    expect(daemon.closed).toEqual([]);
  });
});
