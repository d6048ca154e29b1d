/**
 * The baseline for output throughput: a bare Node process that spawns a script with
 * child_process.spawn('/bin/bash', ['-c', SCRIPT]) and reads its stdout from a pipe as the
 * daemon does ('data' events), counting the bytes and keeping none. Run as its own process,
 * with the daemon's node flags:
 *   node dist/bench/bare-pipe.js SCRIPT
 * It prints one JSON line, { "bytes": N, "ms": T }: T from just before the spawn to the close
 * of the script's output.
 */
import { spawn } from 'node:child_process';

const script = process.argv[2];
if (!script) {
  process.stderr.write('usage: bare-pipe.js SCRIPT\n');
  process.exit(2);
}
const guard = setTimeout(() => {
  process.stderr.write('bare-pipe: the script did not finish within 90 s\n');
  process.exit(1);
}, 90_000);

let bytes = 0;
const t0 = performance.now();
const child = spawn('/bin/bash', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
child.once('close', () => {
  const ms = performance.now() - t0;
  clearTimeout(guard);
  process.stdout.write(`${JSON.stringify({ bytes, ms })}\n`);
});
