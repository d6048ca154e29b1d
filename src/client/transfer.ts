/**
 * The two streaming exchanges of `scheduler export` and `scheduler import`: the export is
 * written to a sink as it arrives, the import sent from a source as it is read, so that
 * neither end holds a whole export in memory. node:http, like the rest of the client.
 */
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExportEnd, ImportSummaryJson } from '../protocol/export-format.js';
import { ndjsonMediaType } from '../protocol/export-format.js';
import { SchedulerError } from '../protocol/errors.js';
import { errorFromAnswer, parseJson, unreachable } from './answer-errors.js';

/** Where the daemon is and the headers every request carries. */
export interface Endpoint {
  baseUrl: string;
  headers: Record<string, string>;
}

/** How much of the end of an export is kept to read its end line. */
const tailBytes = 64 * 1024;

/** GET /api/export into `sink` (not ended); resolves with the end line once the whole export arrived. */
export async function downloadExport(endpoint: Endpoint, sink: Writable): Promise<ExportEnd> {
  const response = await send(endpoint, 'GET', '/api/export', {}, undefined);
  if (response.statusCode !== 200) throw errorFromAnswer(response.statusCode ?? 0, await readText(response));
  let tail = Buffer.alloc(0);
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      tail = Buffer.concat([tail, chunk]).subarray(-tailBytes);
      if (!sink.write(chunk)) await once(sink, 'drain');
    }
  } catch (error) {
    throw cutOff((error as Error).message);
  }
  if (!response.complete) throw cutOff('the connection closed early');
  const last = tail.toString('utf8').trimEnd().split('\n').at(-1) ?? '';
  const end = parseJson(last) as Partial<ExportEnd> | undefined;
  if (end?.end !== true) throw cutOff('it has no end line');
  return { end: true, tasks: end.tasks ?? 0, runs: end.runs ?? 0 };
}

/** POST /api/import with `source` as the body; resolves with the daemon's summary. */
export async function uploadImport(endpoint: Endpoint, source: Readable, onConflict: 'refuse' | 'skip'): Promise<ImportSummaryJson> {
  const query = onConflict === 'skip' ? '?onConflict=skip' : '';
  const request = open(endpoint, 'POST', `/api/import${query}`, { 'content-type': ndjsonMediaType });
  // A source that fails (a file unreadable midway) cuts the request: that, not the daemon, is the cause to name.
  let sourceFailure: Error | undefined;
  source.once('error', (error: Error) => (sourceFailure = error));
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.on('response', resolve);
    request.on('error', reject);
  });
  // The daemon may answer before it has read everything (a body that is not an export): its answer says why.
  const sent = pipeline(source, request).catch((error: unknown) => error);
  let response: IncomingMessage;
  try {
    response = await answered;
  } catch (error) {
    if (sourceFailure) throw unreadable(sourceFailure);
    throw unreachable(endpoint.baseUrl, error);
  }
  const text = await readText(response);
  await sent;
  if (response.statusCode !== 200) throw errorFromAnswer(response.statusCode ?? 0, text);
  if (sourceFailure) throw unreadable(sourceFailure);
  return parseJson(text) as ImportSummaryJson;
}

function unreadable(error: Error): SchedulerError {
  return new SchedulerError('invalid_request', `could not read the export to send: ${error.message}`);
}

function cutOff(why: string): SchedulerError {
  return new SchedulerError('internal', `the export was cut off (${why}); what was written is incomplete: run scheduler export again`);
}

function open(endpoint: Endpoint, method: string, path: string, headers: Record<string, string>) {
  const url = `${endpoint.baseUrl}${path}`;
  const make = url.startsWith('https:') ? httpsRequest : httpRequest;
  return make(url, { method, headers: { ...endpoint.headers, ...headers } });
}

async function send(endpoint: Endpoint, method: string, path: string, headers: Record<string, string>, body: string | undefined): Promise<IncomingMessage> {
  const request = open(endpoint, method, path, headers);
  try {
    const answered = once(request, 'response') as Promise<[IncomingMessage]>;
    request.end(body);
    return (await answered)[0];
  } catch (error) {
    throw unreachable(endpoint.baseUrl, error);
  }
}

async function readText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
