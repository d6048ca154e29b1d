/**
 * The dashboard's files as the daemon serves them (dist/dashboard, built by npm run build):
 * without a token, compressed when the browser accepts it, with a Content-Security-Policy that
 * allows no inline script, a page with no inline script in it, and a first load within the
 * 50 KB (gzip) budget. The API's answers carry none of the page's headers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dashboardBuilt, dashboardFiles } from '../../src/server/dashboard.js';
import { startHarness, type Harness } from './harness.js';

let harness: Harness;
beforeAll(async () => {
  expect(dashboardBuilt(), 'npm run build makes dist/dashboard').toBe(true);
  harness = await startHarness({ token: 'a-token', dashboard: dashboardFiles });
});
afterAll(async () => harness?.close());

describe('the dashboard', () => {
  test('is served at / without a token, with a CSP that allows no inline script and no framing', async () => {
    const page = await harness.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['strict-transport-security']).toBeUndefined();
    // Every script of the page is a file of its origin: none is written inline.
    const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\ssrc="\/[^"]+"/);
      expect(body!.trim()).toBe('');
    }
  });

  test('sends its script compressed to a browser that accepts it, the same bytes once uncompressed', async () => {
    const plain = await harness.app.inject({ method: 'GET', url: '/dashboard.js' });
    const gzipped = await harness.app.inject({ method: 'GET', url: '/dashboard.js', headers: { 'accept-encoding': 'gzip' } });
    const atRoot = await harness.app.inject({ method: 'GET', url: '/', headers: { 'accept-encoding': 'br, gzip' } });
    expect(plain.statusCode).toBe(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toMatch(/accept-encoding/i);
    expect(gunzipSync(gzipped.rawPayload).equals(plain.rawPayload)).toBe(true);
    expect(atRoot.statusCode).toBe(200);
    expect(atRoot.headers['content-encoding']).toBe('br');
  });

  test('the first load (page, script, stylesheet) is under 50 KB gzip', () => {
    const firstLoad = JSON.parse(readFileSync(join(dashboardFiles, 'first-load.json'), 'utf8')) as { files: string[]; gzipBytes: number };
    const measured = firstLoad.files.reduce((sum, name) => sum + readFileSync(join(dashboardFiles, `${name}.gz`)).length, 0);
    expect(measured).toBe(firstLoad.gzipBytes);
    expect(firstLoad.files).toEqual(['index.html', 'dashboard.js', 'dashboard.css']);
    expect(measured).toBeLessThan(50 * 1024);
  });

  test("the API still needs the token, and its answers carry none of the page's headers", async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/api/tasks' })).statusCode).toBe(401);
    const answer = await harness.app.inject({ method: 'GET', url: '/api/tasks', headers: { authorization: 'Bearer a-token' } });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-security-policy']).toBeUndefined();
  });

  test('a path it does not serve is a 404 in the API\'s shape, and files outside it are not reachable', async () => {
    const missing = await harness.app.inject({ method: 'GET', url: '/nothing-here.js', headers: { authorization: 'Bearer a-token' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
    const outside = await harness.app.inject({ method: 'GET', url: '/../package.json', headers: { authorization: 'Bearer a-token' } });
    expect(outside.statusCode).toBe(404);
    const json = await harness.app.inject({ method: 'GET', url: '/first-load.json', headers: { authorization: 'Bearer a-token' } });
    expect(json.statusCode).toBe(404);
  });
});
