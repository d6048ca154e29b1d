/**
 * The full check of the database, `PRAGMA quick_check`, reads every page: about 0.8 s per
 * 400 MB on this project's VM (bench/store-check.ts), longer from a cold disk. The daemon
 * must not wait for it before serving nor block its event loop with it, so it runs in a
 * worker thread on a read-only connection of its own, once, after the store has opened.
 * Damage it finds is reported through `onDamage`; a check that cannot run (the file is
 * busy, the worker fails) is left alone: the requests that read a damaged page still find it.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The worker's code: inline, so that it runs the same from the sources (tests) and from dist/. */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  const rows = db.pragma('quick_check(10)');
  parentPort.postMessage({ problems: rows.map((row) => row.quick_check).filter((line) => line !== 'ok') });
} catch (error) {
  parentPort.postMessage({ error: { code: error.code, message: error.message } });
} finally {
  if (db) db.close();
}
`;

interface CheckResult {
  problems?: string[];
  error?: { code?: string; message: string };
}

/** A check under way. */
export interface QuickCheck {
  /** Settles when the check has ended, whatever it found (or when it could not run). */
  done: Promise<void>;
  /** Abandons it. */
  stop(): void;
}

/** Starts the check of the database at `path`. */
export function startQuickCheck(path: string, onDamage: (problem: string) => void): QuickCheck {
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), path },
  });
  worker.unref(); // never what keeps the daemon alive
  worker.on('message', (result: CheckResult) => {
    if (result.problems && result.problems.length > 0) onDamage(result.problems.join('; '));
    const code = result.error?.code ?? '';
    if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') onDamage(result.error!.message);
  });
  worker.on('error', () => undefined);
  const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return { done, stop: () => void worker.terminate() };
}
