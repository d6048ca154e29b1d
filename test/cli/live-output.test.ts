/** OutputPrinter: each byte of a run's output printed once, in order, and every gap said. */
import { describe, expect, it } from 'vitest';
import { OutputPrinter } from '../../src/cli/live-output.js';
import type { CliIo } from '../../src/cli/context.js';
import type { OutputEvent } from '../../src/protocol/events.js';

function recordingIo(stderrIsTerminal = false) {
  const written: Array<[string, string]> = [];
  const io: CliIo = {
    out: (text) => written.push(['out', `${text}\n`]),
    err: (text) => written.push(['err', `${text}\n`]),
    write: (text) => written.push(['out', text]),
    writeErr: (text) => written.push(['err', text]),
    stderrIsTerminal,
    columns: 80,
  };
  const text = (stream: 'out' | 'err') => written.filter(([to]) => to === stream).map(([, value]) => value).join('');
  return { io, written, text };
}

function chunk(run: number, stream: 'stdout' | 'stderr', offset: number, text: string): OutputEvent {
  return { run, stream, offset, bytes: Buffer.byteLength(text), at: '2026-11-25T10:00:00.000Z', text };
}

describe('OutputPrinter', () => {
  it('prints stdout on stdout and stderr on stderr, in order', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'one\n'));
    printer.print(chunk(1, 'stderr', 0, 'oops\n'));
    printer.print(chunk(1, 'stdout', 4, 'two\n'));
    expect(text('out')).toBe('one\ntwo\n');
    expect(text('err')).toBe('oops\n');
  });

  it('shows stderr in red on a terminal only', () => {
    const terminal = recordingIo(true);
    new OutputPrinter(terminal.io).print(chunk(1, 'stderr', 0, 'oops\n'));
    expect(terminal.text('err')).toBe('\u001b[31moops\n\u001b[39m');
  });

  it('skips what it printed already, whole or in part (a chunk sent again after a reconnection)', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'abcé'));
    printer.print(chunk(1, 'stdout', 0, 'abcé'));
    printer.print(chunk(1, 'stdout', 3, 'éfg'));
    expect(text('out')).toBe('abcéfg');
  });

  it('says where bytes were dropped, on a line of its own', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'head'));
    printer.print(chunk(1, 'stdout', 104, 'tail\n'));
    expect(text('out')).toBe('head\n[100 bytes of stdout dropped here]\ntail\n');
  });

  it('keeps runs apart: the next run starts again from offset 0', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'first\n'));
    printer.print(chunk(2, 'stdout', 0, 'second\n'));
    expect(text('out')).toBe('first\nsecond\n');
  });

  it('at the end of a run, says how many bytes it never received, once', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'partial\n'));
    printer.end(1, 'stdout', 50);
    printer.end(1, 'stdout', 50);
    // A run it printed nothing of, and a stream that was printed whole, say nothing.
    printer.end(2, 'stdout', 10);
    printer.print(chunk(3, 'stdout', 0, 'all\n'));
    printer.end(3, 'stdout', 4);
    expect(text('out')).toBe('partial\n[42 bytes of stdout dropped here]\nall\n');
    expect(printer.printedRun(1)).toBe(true);
    expect(printer.printedRun(2)).toBe(false);
  });

  it('ends the script line before a note of its own', () => {
    const { io, text } = recordingIo();
    const printer = new OutputPrinter(io);
    printer.print(chunk(1, 'stdout', 0, 'no newline'));
    printer.note('run 1 succeeded');
    printer.note('next');
    expect(text('out')).toBe('no newline\nrun 1 succeeded\nnext\n');
  });

  it('prints either stream on stdout when asked (scheduler logs --stderr)', () => {
    const { io, text } = recordingIo();
    new OutputPrinter(io, true).print(chunk(1, 'stderr', 0, 'oops\n'));
    expect(text('out')).toBe('oops\n');
    expect(text('err')).toBe('');
  });
});
