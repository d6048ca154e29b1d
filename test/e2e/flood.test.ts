/**
 * A script that writes 300 MB to stdout, followed live by `scheduler get -watch=true`: the
 * daemon streams it through without holding it. It keeps answering while the flood passes,
 * records the run with every byte counted (the head and tail kept, the rest counted as
 * dropped), and its peak memory stays far below the size of the output. The watcher prints
 * every byte, or says where it skipped some: nothing is lost silently.
 *
 * The bound on memory is structural, not a measure of speed: a daemon that buffered the
 * output (for the run's record, or for a watcher) would need at least 300 MB for it alone.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, test } from 'vitest';
import { ok } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import type { DaemonProcess } from '../support/daemon.js';
import { useE2e } from '../support/e2e-context.js';
import { gate } from '../support/gate.js';

const e2e = useE2e();
let daemon: DaemonProcess;
let scratch: string;

const total = 300_000_000;
const outputCap = 1024 * 1024; // the default --output-cap
/** The daemon idles at 60-90 MB; buffering the output would take it past 300 MB. */
const peakBound = 250 * 1024 * 1024;

beforeAll(async () => {
  daemon = await e2e.startDaemon();
  scratch = e2e.tempDir();
});

/** The peak resident set size of a process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Reads the watcher's stdout as it comes without keeping the flood: a line that starts with
 * "x" is the script's output and must be all x (it is counted); any other line is one of
 * the CLI's own (the task, an event, a note) and is kept.
 */
class FloodReader {
  /** Bytes of the script's output seen. */
  outputBytes = 0;
  /** The CLI's own lines. */
  readonly lines: string[] = [];
  /** Output lines with something other than x in them. */
  readonly strays: string[] = [];
  private inOutput = false;
  private atLineStart = true;
  private text = '';
  private readonly xs = Buffer.alloc(1 << 20, 'x');

  take(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const newline = chunk.indexOf(10, pos);
      const end = newline < 0 ? chunk.length : newline;
      const segment = chunk.subarray(pos, end);
      if (this.atLineStart && segment.length > 0) this.inOutput = segment[0] === 0x78;
      if (segment.length > 0) this.atLineStart = false;
      if (this.inOutput) {
        if (this.allX(segment)) this.outputBytes += segment.length;
        else this.strays.push(segment.toString('utf8').slice(0, 200));
      } else {
        this.text += segment.toString('utf8');
        if (this.text.length > 100_000) throw new Error(`a line of the CLI's own longer than 100,000 characters: ${this.text.slice(0, 200)}...`);
      }
      if (newline < 0) break;
      if (!this.inOutput) this.lines.push(this.text);
      this.text = '';
      this.inOutput = false;
      this.atLineStart = true;
      pos = newline + 1;
    }
  }

  /** What it read so far, for failure messages. */
  describe(): unknown {
    return { outputBytes: this.outputBytes, lines: this.lines, strays: this.strays };
  }

  private allX(segment: Buffer): boolean {
    for (let from = 0; from < segment.length; from += this.xs.length) {
      const part = segment.subarray(from, from + this.xs.length);
      if (!part.equals(this.xs.subarray(0, part.length))) return false;
    }
    return true;
  }
}

describe('a run that writes 300 MB to stdout, followed live', () => {
  test('streams through the daemon: it keeps answering, records every byte, and its memory stays far below the output', { timeout: 180_000 }, async ({ expect }) => {
    const pid = daemon.child.pid!;
    const release = gate(scratch, 'flood');
    // Held at a gate, so that the watcher is following the run before the flood begins: it
    // prints "ready" (on stderr, as the script does) once it follows: live, or from the output
    // so far if it came late.
    ok(await daemon.cli(['submit', 'flood', '-type=delay', '-time=100ms', `-script=echo ready >&2; ${release.wait}; head -c ${total} /dev/zero | tr '\\0' x`]), 'submit');
    const reader = new FloodReader();
    const watcher = daemon.startCli(['get', 'flood', '-watch=true'], { onStdout: (chunk) => reader.take(chunk) });
    await waitFor('the watcher to follow the run', () => {
      if (watcher.child.exitCode !== null) throw new Error(`the watcher exited early: ${watcher.stderr()}`);
      return watcher.stderr() === 'ready\n' || undefined;
    }, { describe: () => ({ ...(reader.describe() as object), stderr: watcher.stderr() }) });
    const idlePeak = peakRss(pid);
    release.open();

    // The daemon answers while the flood passes: the task shows the run executing.
    let answeredDuringRun = 0;
    for (;;) {
      const task = await daemon.task('flood');
      if (task?.status !== 'Executing') break;
      expect(task.results.at(-1)).toMatchObject({ run: 1, outcome: 'running' });
      answeredDuringRun++;
    }
    const result = await watcher.done(120_000);
    const peak = peakRss(pid);
    console.log(
      `flood: daemon peak RSS ${(idlePeak / 2 ** 20).toFixed(0)} MiB before the run, ${(peak / 2 ** 20).toFixed(0)} MiB after; ` +
        `${answeredDuringRun} GETs answered during it; the watcher printed ${reader.outputBytes} bytes of output`,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('ready\n');
    expect(answeredDuringRun).toBeGreaterThanOrEqual(3);

    // Every byte went through the watcher, or it said where it skipped some (a watcher that
    // falls behind may be cut off and resume, and then skips what the daemon no longer holds).
    expect(reader.strays).toEqual([]);
    const skipped = reader.lines
      .map((line) => /^\[(\d+) bytes of stdout dropped here\]$/.exec(line))
      .reduce((sum, match) => sum + (match ? Number(match[1]) : 0), 0);
    expect(reader.outputBytes + skipped).toBe(total);
    expect(reader.lines.at(-1)).toBe('task flood is Executed; nothing more will happen');
    expect(reader.lines.some((line) => /^\S+ \S+ {2}run 1 succeeded, exit 0$/.test(line))).toBe(true);

    // Recorded: every byte counted, the head and tail kept, the middle counted as dropped.
    const task = (await daemon.task('flood'))!;
    const run = task.results[0]!;
    expect(run).toMatchObject({
      outcome: 'succeeded',
      exitCode: 0,
      stdoutBytes: total,
      stdoutTruncated: true,
      stdoutDroppedAt: outputCap / 2,
      stdoutDroppedBytes: total - Buffer.byteLength(run.stdout),
      stderr: 'ready\n',
      stderrBytes: 6,
      outputCap,
    });
    expect(Buffer.byteLength(run.stdout)).toBe(outputCap);
    expect(/^x+$/.test(run.stdout)).toBe(true);

    expect(peak, `the daemon's peak RSS, ${peak} bytes`).toBeLessThan(peakBound);
  });
});
