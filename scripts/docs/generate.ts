/**
 * `npm run docs`: rewrites every generated region of docs/ from the code (the CLI's help, the
 * daemon's option table). test/docs/generated-docs.test.ts fails when a committed region differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedRegions } from './generated-docs.js';
import { replaceRegion } from './generated-region.js';

// From dist/scripts/docs/ (built) up to the repository.
const root = join(import.meta.dirname, '..', '..', '..');

for (const region of generatedRegions) {
  const path = join(root, region.file);
  const before = readFileSync(path, 'utf8');
  const after = replaceRegion(before, region.name, region.render(), region.file);
  if (after !== before) writeFileSync(path, after);
  console.log(`${region.file} (${region.name}): ${after === before ? 'up to date' : 'rewritten'}`);
}
