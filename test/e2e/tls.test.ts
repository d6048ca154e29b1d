/**
 * HTTPS with --tls-cert and --tls-key, through the real daemon and CLI (the test's own
 * certificate authority is given to the CLI with NODE_EXTRA_CA_CERTS); SIGHUP reads a renewed
 * certificate for the next connections; a daemon on a non-loopback address without TLS says
 * that tokens travel in clear. Certificates are made with the machine's openssl.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, expect, test } from 'vitest';
import { useE2e } from '../support/e2e-context.js';
import { waitFor } from '../support/wait.js';

const e2e = useE2e();

/** A self-signed certificate for 127.0.0.1 and its key, in `dir` under `name`. */
function makeCertificate(dir: string, name: string, commonName: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** The common name of the certificate the server at `url` presents now, on a new connection. */
function presentedName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const name = socket.getPeerCertificate().subject.CN;
      socket.end();
      resolve((Array.isArray(name) ? name[0] : name) ?? '');
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  test('serves HTTPS the CLI trusts with the CA given; SIGHUP reads a renewed certificate for new connections', async () => {
    const dir = e2e.tempDir('scheduler-e2e-tls-');
    const first = makeCertificate(dir, 'server', 'first-certificate');
    const token = 'tls-test-token';
    const daemon = await e2e.startDaemon({ env: { SCHEDULER_TOKEN: token }, args: ['--tls-cert', first.cert, '--tls-key', first.key] });
    expect(daemon.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await presentedName(daemon.url)).toBe('first-certificate');

    const status = await daemon.cli(['status'], { env: { SCHEDULER_TOKEN: token, NODE_EXTRA_CA_CERTS: first.cert } });
    expect(status.code, status.stderr).toBe(0);
    // Without the CA, the CLI refuses the certificate.
    const untrusted = await daemon.cli(['status'], { env: { SCHEDULER_TOKEN: token } });
    expect(untrusted.code).not.toBe(0);

    // A renewed certificate written over the files, then SIGHUP.
    const renewed = makeCertificate(dir, 'renewed', 'renewed-certificate');
    execFileSync('cp', [renewed.cert, first.cert]);
    execFileSync('cp', [renewed.key, first.key]);
    daemon.child.kill('SIGHUP');
    await waitFor('the daemon to present the renewed certificate', async () => (await presentedName(daemon.url)) === 'renewed-certificate');
    await waitFor('the daemon to say it read them', () => /SIGHUP: read the TLS certificate .* and its key again/.test(daemon.stdout));
    const after = await daemon.cli(['status'], { env: { SCHEDULER_TOKEN: token, NODE_EXTRA_CA_CERTS: first.cert } });
    expect(after.code, after.stderr).toBe(0);
    expect(readFileSync(first.cert, 'utf8')).toBe(readFileSync(renewed.cert, 'utf8'));
  });

  test('a certificate without its key is refused at start', async () => {
    const dir = e2e.tempDir('scheduler-e2e-tls-half-');
    const { cert } = makeCertificate(dir, 'alone', 'alone');
    const daemon = e2e.startDaemon({ args: ['--tls-cert', cert], startTimeoutMs: 15_000 });
    await expect(daemon).rejects.toThrow(/--tls-cert needs --tls-key too/);
  });

  test('on a non-loopback address without TLS the daemon warns that tokens travel in clear', async () => {
    const daemon = await e2e.startDaemon({ listen: '0.0.0.0:0', env: { SCHEDULER_TOKEN: 'clear-token' } });
    // Printed after the "listening on" line the start waits for: wait for it too.
    await waitFor('the warning', () => /warning: listening on 0\.0\.0\.0 without TLS: tokens and task scripts travel in clear/.test(daemon.stdout));
  });
});
