/** Deterministic randomness: what must look random (jitter) yet come out the same after a restart. */
import { createHash } from 'node:crypto';

/** A number in [0, 1) that depends only on `key`. */
export function unitHash(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) / 2 ** 32;
}
