/**
 * What figures 4 and 5 share: the same wrk load (32 connections, one wrk thread) against
 * the daemon and the bare Fastify reference, both running, in alternating rounds after a
 * warm-up of each, with the CPU each server spent per request. Alternating rounds, not one
 * long measure of each in turn: this shared machine drifts by 10-20% within a minute, and
 * a drift then falls on both servers alike instead of on the one measured second.
 */
import { cpuMeter } from '../proc-stats.js';
import { startBareFastify } from '../reference/bare-fastify.js';
import type { ReferenceAnswers } from '../reference/fastify-server.js';
import { detail, ratioRow, type BenchOptions, type Row } from '../report.js';
import { runWrk, wrkConnections, wrkMissing, type WrkLoad, type WrkResult } from '../wrk.js';

export interface ThroughputComparison {
  figure: string;
  daemon: { url: string; pid: number };
  answers: ReferenceAnswers;
  request: WrkLoad['request'];
  minRatio: number;
}

export async function compareThroughput(spec: ThroughputComparison, options: BenchOptions): Promise<Row> {
  const missing = wrkMissing();
  if (missing) {
    detail(`skipped: ${missing}`);
    return { figure: spec.figure, ours: `skipped: ${missing}`, reference: '', ratio: '', target: `>= ${spec.minRatio}x ref`, met: null };
  }
  const reference = await startBareFastify(spec.answers);
  const rounds = { ours: [] as WrkResult[], bare: [] as WrkResult[] };
  try {
    const schedule = roundsOf(options);
    await warmUp(spec.daemon, spec.request, 'daemon', schedule.warmupSec);
    await warmUp(reference, spec.request, 'reference', schedule.warmupSec);
    for (let round = 1; round <= schedule.rounds; round++) {
      const ours = await measureRound(spec.daemon, spec.request, `daemon-${round}`, schedule.roundSec);
      const bare = await measureRound(reference, spec.request, `reference-${round}`, schedule.roundSec);
      rounds.ours.push(ours.result);
      rounds.bare.push(bare.result);
      detail(
        `round ${round}: daemon ${Math.round(ours.result.reqPerSec)}/s (${ours.usPerRequest} us of its CPU per request), ` +
          `bare Fastify ${Math.round(bare.result.reqPerSec)}/s (${bare.usPerRequest} us), ratio ${(ours.result.reqPerSec / bare.result.reqPerSec).toFixed(2)}x`,
      );
    }
  } finally {
    reference.stop();
  }
  const ours = combined(rounds.ours);
  const bare = combined(rounds.bare);
  detail(`daemon: ${describe(ours)}`);
  detail(`bare Fastify: ${describe(bare)}`);
  const row = ratioRow(spec.figure, ours.reqPerSec, bare.reqPerSec, (value) => `${Math.round(value)}/s`, { atLeast: spec.minRatio });
  const failures = ours.non2xx + ours.socketErrors;
  if (failures > 0) return { ...row, ours: `${row.ours} (${failures} failed)`, met: false };
  return row;
}

/** Full: 2 s of warm-up each, then 4 rounds of 2 s each (8 s of each server measured); quick: 1 s, then 2 rounds of 1 s. */
function roundsOf(options: BenchOptions): { warmupSec: number; rounds: number; roundSec: number } {
  return options.quick ? { warmupSec: 1, rounds: 2, roundSec: 1 } : { warmupSec: 2, rounds: 4, roundSec: 2 };
}

/** Each wrk run submits ids of its own. */
function named(request: WrkLoad['request'], prefix: string): WrkLoad['request'] {
  return request.method === 'POST' ? { method: 'POST', idPrefix: `${request.idPrefix}-${prefix}` } : request;
}

async function warmUp(server: { url: string }, request: WrkLoad['request'], prefix: string, durationSec: number): Promise<void> {
  await runWrk({ url: server.url, request: named(request, `${prefix}-warm`), durationSec });
}

async function measureRound(server: { url: string; pid: number }, request: WrkLoad['request'], prefix: string, durationSec: number) {
  const cpu = cpuMeter(server.pid);
  const result = await runWrk({ url: server.url, request: named(request, prefix), durationSec });
  const cores = cpu();
  return { result, usPerRequest: ((cores * 1e6) / result.reqPerSec).toFixed(0) };
}

/** The rounds of one server as one measure: all their requests over all their time. */
function combined(results: readonly WrkResult[]): WrkResult {
  const requests = results.reduce((sum, result) => sum + result.requests, 0);
  const seconds = results.reduce((sum, result) => sum + result.seconds, 0);
  const worst = (pick: (result: WrkResult) => number) => Math.max(...results.map(pick));
  return {
    requests,
    seconds,
    reqPerSec: requests / seconds,
    // Latency percentiles do not add up over rounds: the worst round's is shown.
    latencyP50Ms: worst((result) => result.latencyP50Ms),
    latencyP99Ms: worst((result) => result.latencyP99Ms),
    non2xx: results.reduce((sum, result) => sum + result.non2xx, 0),
    socketErrors: results.reduce((sum, result) => sum + result.socketErrors, 0),
  };
}

function describe(result: WrkResult): string {
  return (
    `${Math.round(result.reqPerSec)}/s over ${result.seconds.toFixed(1)} s in all, ${wrkConnections} connections; ` +
    `latency p50 ${result.latencyP50Ms.toFixed(2)} ms, p99 ${result.latencyP99Ms.toFixed(2)} ms (the worst round's); non-2xx ${result.non2xx}, socket errors ${result.socketErrors}`
  );
}

/** What the reference answers: the daemon's answer to one submit (of `reference-template`), and its bytes for GET of `getId`. */
export async function fetchAnswers(url: string, getId: string): Promise<ReferenceAnswers> {
  const submit = await fetch(`${url}/api/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'reference-template', type: 'delay', time: '1000h', script: 'echo never' }),
  });
  const template = (await submit.json()) as Record<string, unknown>;
  if (submit.status !== 201) throw new Error(`POST /api/tasks: HTTP ${submit.status}`);
  const get = await fetch(`${url}/api/tasks/${encodeURIComponent(getId)}`);
  const getBody = await get.text();
  if (get.status !== 200) throw new Error(`GET /api/tasks/${getId}: HTTP ${get.status}`);
  return {
    get: { body: getBody, contentType: get.headers.get('content-type') ?? 'application/json' },
    submit: { template, contentType: submit.headers.get('content-type') ?? 'application/json' },
  };
}
