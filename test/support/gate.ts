/** Gates: a state a script holds ("while a run executes") for as long as the test needs. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A gate a script waits at until the test opens it, so that "while a run is executing" is a
 * state the test holds for as long as it needs, however slow the machine. A script that is
 * never released goes on after `maxWaitMs`, so nothing is left running for ever; by default
 * longer than a test may last (90 s), so that no gate opens on its own while a test holds it.
 */
export interface Gate {
  /** The file whose existence opens the gate. */
  readonly path: string;
  /** A bash snippet that waits until the gate is open. */
  readonly wait: string;
  /** Opens the gate. */
  open(): void;
}

/** A closed gate in `dir`. */
export function gate(dir: string, name: string, maxWaitMs = 120_000): Gate {
  const path = join(dir, `gate-${name}`);
  const rounds = Math.ceil(maxWaitMs / 50);
  return {
    path,
    wait: `for _ in $(seq ${rounds}); do [ -e '${path}' ] && break; sleep 0.05; done`,
    open: () => writeFileSync(path, 'open\n'),
  };
}
