/**
 * The baseline for start lateness: a bare Node process that spawns a script with
 * child_process.spawn('/bin/bash', ['-c', SCRIPT]) and records what each run printed.
 * Run as its own process:
 *   node dist/bench/bare-spawn.js burst N SCRIPT       N spawns in a tight loop; T = when the loop starts
 *   node dist/bench/bare-spawn.js sequential N SCRIPT  one at a time, 200 ms apart; T = just before each spawn
 * It prints one JSON line, { "late": [...] }: per run, the script's clock minus T in ms (null if it printed none).
 */
import { spawn } from 'node:child_process';
import { parseScriptClock, wallClockMs } from './script-clock.js';

const [mode, countText, script] = process.argv.slice(2);
const count = Number(countText);
if ((mode !== 'burst' && mode !== 'sequential') || !Number.isInteger(count) || count < 1 || count > 10_000 || !script) {
  process.stderr.write('usage: bare-spawn.js burst|sequential N SCRIPT (N from 1 to 10000)\n');
  process.exit(2);
}
const guard = setTimeout(() => {
  process.stderr.write('bare-spawn: runs not finished within 90 s\n');
  process.exit(1);
}, 90_000);

/** Spawns once; resolves with what the script printed once it has closed its output. */
function spawnOnce(): Promise<string> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn('/bin/bash', ['-c', script!], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => (output += text));
    child.once('close', () => resolve(output));
    child.once('error', () => resolve(output));
  });
}

const lateness = (output: string, t: number): number | null => {
  const clock = parseScriptClock(output);
  return Number.isNaN(clock) ? null : clock - t;
};

const late: (number | null)[] = [];
if (mode === 'burst') {
  const runs: Promise<string>[] = [];
  const t0 = wallClockMs();
  for (let index = 0; index < count; index++) runs.push(spawnOnce());
  for (const output of await Promise.all(runs)) late.push(lateness(output, t0));
} else {
  for (let index = 0; index < count; index++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t = wallClockMs();
    late.push(lateness(await spawnOnce(), t));
  }
}
clearTimeout(guard);
process.stdout.write(`${JSON.stringify({ late })}\n`);
