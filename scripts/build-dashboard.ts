/**
 * Builds the web dashboard (src/dashboard) into dist/dashboard as part of `npm run build`:
 * one minified ES module (the screens, Preact and htm together), its stylesheet and its page,
 * each also gzip- and Brotli-compressed beside it, which the daemon sends to browsers that
 * accept them (server/dashboard.ts). Nothing is built at run time and nothing comes from a CDN.
 *
 * It prints the first load's size as a browser receives it (gzip), which docs/dashboard.md
 * quotes and test/dashboard checks against the 50 KB budget.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = join(root, 'src', 'dashboard');
const out = join(root, 'dist', 'dashboard');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(source, 'main.ts')],
  outfile: join(out, 'dashboard.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  // Browsers of the last few years: ES modules, optional chaining, fetch, EventSource.
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
copyFileSync(join(source, 'dashboard.css'), join(out, 'dashboard.css'));

const firstLoad = ['index.html', 'dashboard.js', 'dashboard.css'];
let gzipped = 0;
for (const name of firstLoad) {
  const body = readFileSync(join(out, name));
  const gz = gzipSync(body, { level: 9 });
  gzipped += gz.length;
  writeFileSync(join(out, `${name}.gz`), gz);
  writeFileSync(join(out, `${name}.br`), brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
}
writeFileSync(join(out, 'first-load.json'), `${JSON.stringify({ files: firstLoad, gzipBytes: gzipped })}\n`);
