/** Drives HTTP load with autocannon and condenses its result. */
import autocannon from 'autocannon';
import { assertLoopback } from './api.js';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  /** A JSON body; each `[<id>]` in it is replaced by a fresh unique id per request. */
  body?: string;
  connections: number;
  /** Seconds to run, unless `amount` is given. */
  durationSec?: number;
  /** Stop after this many requests. */
  amount?: number;
}

export interface LoadResult {
  requests: number;
  durationSec: number;
  reqPerSec: number;
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** A bound on any single load run, whatever its settings. */
const maxRunSec = 90;

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const target = `${options.url}${options.path}`;
  assertLoopback(target);
  let instance: autocannon.Instance | undefined;
  let guard: NodeJS.Timeout | undefined;
  try {
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      instance = autocannon(
        {
          url: target,
          method: options.method,
          connections: options.connections,
          pipelining: 1,
          ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSec ?? 5 }),
          timeout: 10,
          ...(options.body !== undefined
            ? { body: options.body, idReplacement: true, headers: { 'content-type': 'application/json' } }
            : {}),
        },
        (error, done) => (error ? reject(error as Error) : resolve(done)),
      );
      guard = setTimeout(() => instance?.stop(), maxRunSec * 1000);
    });
    const requests = result.requests.total;
    return {
      requests,
      durationSec: result.duration,
      reqPerSec: requests / result.duration,
      latencyP50: result.latency.p50,
      latencyP99: result.latency.p99,
      latencyMax: result.latency.max,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
  } finally {
    if (guard) clearTimeout(guard);
  }
}
