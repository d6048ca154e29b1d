/**
 * What figures 4 and 5 share: the same wrk load (32 connections, one wrk thread) against
 * the daemon and then against the bare Fastify reference, each after a warm-up, with the
 * CPU each server spent per request.
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
  const ours = await measure('daemon', spec.daemon, spec.request, options);
  const reference = await startBareFastify(spec.answers);
  let bare: WrkResult;
  try {
    bare = await measure('bare Fastify', reference, spec.request, options);
  } finally {
    reference.stop();
  }
  const row = ratioRow(spec.figure, ours.reqPerSec, bare.reqPerSec, (value) => `${Math.round(value)}/s`, { atLeast: spec.minRatio });
  const failures = ours.non2xx + ours.socketErrors;
  if (failures > 0) return { ...row, ours: `${row.ours} (${failures} failed)`, met: false };
  return row;
}

async function measure(name: string, server: { url: string; pid: number }, request: WrkLoad['request'], options: BenchOptions): Promise<WrkResult> {
  const warmupSec = options.quick ? 1 : 2;
  const measureSec = options.quick ? 2 : 8;
  // Each wrk run submits ids of its own.
  const named = (prefix: string): WrkLoad['request'] => (request.method === 'POST' ? { method: 'POST', idPrefix: `${request.idPrefix}-${prefix}` } : request);
  await runWrk({ url: server.url, request: named('warm'), durationSec: warmupSec });
  const cpu = cpuMeter(server.pid);
  const result = await runWrk({ url: server.url, request: named('measure'), durationSec: measureSec });
  const cores = cpu();
  detail(
    `${name}: ${Math.round(result.reqPerSec)}/s over ${measureSec} s (after ${warmupSec} s warm-up), ${wrkConnections} connections; ` +
      `latency p50 ${result.latencyP50Ms.toFixed(2)} ms, p99 ${result.latencyP99Ms.toFixed(2)} ms; non-2xx ${result.non2xx}, socket errors ${result.socketErrors}; ` +
      `server CPU ${cores.toFixed(2)} cores, ${((cores * 1e6) / result.reqPerSec).toFixed(0)} us per request`,
  );
  return result;
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
