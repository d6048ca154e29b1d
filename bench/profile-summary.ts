/**
 * Summarises a V8 CPU profile (`--cpu-prof`, see SCHEDULER_BENCH_CPU_PROF in
 * daemon-process.ts): the functions where the samples fell (self time) and the heaviest
 * call paths (inclusive time), as text. For the flame graph itself open the file in Chrome's
 * DevTools (Performance, load profile) or speedscope.
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [TOP] [FROM_MS TO_MS]
 *
 * Without a window it prints the busy time per second of the profile first, so that a second
 * run can look at one stretch (e.g. a burst of fires apart from the submits before it).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, fromArg, toArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node dist/bench/profile-summary.js FILE.cpuprofile [TOP] [FROM_MS TO_MS]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const window = fromArg !== undefined && toArg !== undefined ? { from: Number(fromArg) * 1000, to: Number(toArg) * 1000 } : undefined;
const idleIds = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id));

/** Microseconds of samples that fell in each node (its self time), within the window if one was given. */
const selfUs = new Map<number, number>();
/** Busy microseconds per second of the profile. */
const busyPerSecond: number[] = [];
let at = 0;
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0;
  at += delta;
  if (!idleIds.has(id)) busyPerSecond[Math.floor(at / 1e6)] = (busyPerSecond[Math.floor(at / 1e6)] ?? 0) + delta;
  if (window && (at < window.from || at >= window.to)) return;
  selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
});
const totalUs = window ? window.to - window.from : profile.endTime - profile.startTime;
if (!window) {
  console.log('busy ms per second of the profile: ' + Array.from(busyPerSecond, (us, second) => `${second}s:${((us ?? 0) / 1000).toFixed(0)}`).join(' '));
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}
function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nodeModules = path.lastIndexOf('node_modules/');
  if (nodeModules >= 0) return path.slice(nodeModules + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

// Self time by function (nodes of the same function in different call paths added up).
const selfByFunction = new Map<string, number>();
for (const [id, us] of selfUs) {
  const name = frameName(byId.get(id)!);
  selfByFunction.set(name, (selfByFunction.get(name) ?? 0) + us);
}
// Inclusive time by function: a sample counts once for every distinct function on its stack.
const inclusiveByFunction = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = frameName(byId.get(at)!);
    if (seen.has(name)) continue;
    seen.add(name);
    inclusiveByFunction.set(name, (inclusiveByFunction.get(name) ?? 0) + us);
  }
}

const idle = [...selfByFunction].filter(([name]) => name.startsWith('(idle)')).reduce((sum, [, us]) => sum + us, 0);
const busy = totalUs - idle;
const pct = (us: number) => `${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
const msOf = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;

console.log(`${file}${window ? ` from ${window.from / 1000} to ${window.to / 1000} ms` : ''}: ${(totalUs / 1000).toFixed(0)} ms profiled, ${(busy / 1000).toFixed(0)} ms on the CPU (not idle); percentages of the latter`);
console.log(`\nself time, top ${top}:`);
for (const [name, us] of [...selfByFunction].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${msOf(us)} ${pct(us)}  ${name}`);
}
console.log(`\ninclusive time (the function and what it called), top ${top}:`);
for (const [name, us] of [...inclusiveByFunction].filter(([name]) => !name.startsWith('(idle)') && !name.startsWith('(root)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${msOf(us)} ${pct(us)}  ${name}`);
}
