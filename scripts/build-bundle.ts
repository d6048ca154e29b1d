/**
 * Bundles the program (dist/src/cli/main.js and everything it imports, dependencies
 * included) into one file, dist/src/cli/scheduler.js, the `scheduler` command, as part of
 * `npm run build`. Node 20 has no compile cache, and loading the program from its ~1,000
 * module files (typebox alone is 700) took about 350 ms of each start, the daemon's and
 * every CLI command's: one file loads in a fraction of that (docs/benchmarks.md, figure 7c).
 *
 * The bundle sits beside main.js, so that every path the code finds from its own location
 * (the executor program, package.json, node_modules) is the same from either. Native and
 * optional modules stay outside: better-sqlite3 (a compiled addon) and pg (loaded only for a
 * PostgreSQL store) are required from node_modules at run time.
 */
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
const bundle = join(root, 'dist', 'src', 'cli', 'scheduler.js');

await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg'],
  // The CommonJS dependencies inside the bundle call require() for Node's own modules and
  // the external ones; an ES module has no require, so the bundle makes one.
  banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(bundle, 0o755);
