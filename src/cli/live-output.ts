/**
 * Printing a task's live events for people: a script's output as it is written (stdout on
 * stdout, stderr on stderr, in red on a terminal), and one-line notes between, each note on
 * a line of its own even when the output so far ends mid-line.
 */
import type { OutputEvent } from '../protocol/events.js';
import type { CliIo } from './context.js';

const red = (text: string) => `\u001b[31m${text}\u001b[39m`;

/** Prints each byte of output once, in order, and says where bytes were dropped. */
export class OutputPrinter {
  /** The next offset expected, per run and stream. */
  private readonly next = new Map<string, number>();
  /** Whether the last thing written to stdout ended a line. */
  private atLineStart = true;

  /** `oneStream`: print the chunks of either stream on stdout (`scheduler logs --stderr`). */
  constructor(
    private readonly io: CliIo,
    private readonly oneStream = false,
  ) {}

  /** Prints a chunk, skipping what was already printed (a chunk sent again after a reconnection). */
  print(event: OutputEvent): void {
    const key = `${event.run}:${event.stream}`;
    const expected = this.next.get(key) ?? 0;
    if (event.offset + event.bytes <= expected) return;
    let text = event.text;
    if (event.offset < expected) text = Buffer.from(text).subarray(expected - event.offset).toString('utf8');
    else if (event.offset > expected) this.note(`[${event.offset - expected} bytes of ${event.stream} dropped here]`);
    this.next.set(key, event.offset + event.bytes);
    if (text.length === 0) return;
    if (event.stream === 'stdout' || this.oneStream) {
      this.io.write(text);
      this.atLineStart = text.endsWith('\n');
    } else {
      this.io.writeErr(this.io.stderrIsTerminal ? red(text) : text);
    }
  }

  /**
   * A run ended having written `totalBytes` to `stream`: says how many of them were not
   * printed (dropped before this client could see them, e.g. while it was reconnecting).
   * Only for runs this printer has printed output of.
   */
  end(run: number, stream: 'stdout' | 'stderr', totalBytes: number): void {
    const key = `${run}:${stream}`;
    const printed = this.next.get(key);
    if (printed === undefined || printed >= totalBytes) return;
    this.note(`[${totalBytes - printed} bytes of ${stream} dropped here]`);
    this.next.set(key, totalBytes);
  }

  /** Whether output of `run` has been printed. */
  printedRun(run: number): boolean {
    return this.next.has(`${run}:stdout`) || this.next.has(`${run}:stderr`);
  }

  /** Prints a line of our own on stdout, after ending the script's line if it left one open. */
  note(line: string): void {
    if (!this.atLineStart) this.io.write('\n');
    this.io.out(line);
    this.atLineStart = true;
  }
}
