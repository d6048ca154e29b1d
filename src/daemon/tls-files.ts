/** The daemon's TLS certificate and key: which files, and their content, read at start and on SIGHUP. */
import { readFileSync } from 'node:fs';
import { SchedulerError } from '../core/errors.js';
import type { DaemonConfig } from './daemon-config.js';

/** The TLS files of `config`, both or neither (HTTPS takes a certificate and its key). */
export function tlsFilesOf(config: DaemonConfig): { certFile: string; keyFile: string } | undefined {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = config;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new SchedulerError('invalid_request', `${certFile === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key'} too: HTTPS takes a certificate and its key`);
  }
  return { certFile, keyFile };
}

/** The certificate and key in `files`, read now; a file that cannot be read stops the start (or the reload) saying which. */
export function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new SchedulerError('invalid_request', `${flag}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read(tls.certFile, '--tls-cert'), key: read(tls.keyFile, '--tls-key') };
}
