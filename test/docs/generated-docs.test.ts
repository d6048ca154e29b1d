import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedRegions } from '../../scripts/docs/generated-docs.js';
import { beginMarker, endMarker, replaceRegion } from '../../scripts/docs/generated-region.js';

const root = join(import.meta.dirname, '..', '..');

describe('the generated regions of docs/', () => {
  for (const region of generatedRegions) {
    it(`${region.file} (${region.name}) is what the generator prints`, () => {
      const committed = readFileSync(join(root, region.file), 'utf8');
      const generated = replaceRegion(committed, region.name, region.render(), region.file);
      expect(committed === generated, `${region.file}: the generated region "${region.name}" is out of date; run \`npm run docs\` and commit the result`).toBe(true);
    });
  }

  it('covers every command of the CLI and every option of the daemon', () => {
    const cli = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
    for (const command of ['daemon', 'submit', 'list', 'get', 'next', 'runs', 'logs', 'kill', 'run', 'pause', 'resume', 'stop', 'delete', 'status', 'backup']) {
      expect(cli).toContain(`### scheduler ${command}\n`);
    }
    expect(cli).toContain('Usage: scheduler submit [options] <id>');
    const configuration = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
    expect(configuration).toContain('| `--keep-runs N` | `SCHEDULER_KEEP_RUNS` | `keepRuns` | `100` |');
  });
});

describe('replaceRegion', () => {
  const doc = (inside: string) => `# Title\n\nprose\n${beginMarker('table')}\n${inside}\n${endMarker('table')}\nmore prose\n`;

  it('replaces what is between the markers and keeps the prose around them', () => {
    expect(replaceRegion(doc('stale'), 'table', 'fresh\n', 'doc.md')).toBe(doc('fresh'));
    expect(replaceRegion(doc('fresh'), 'table', 'fresh', 'doc.md')).toBe(doc('fresh'));
  });

  it('refuses a doc without the markers, saying what to add', () => {
    expect(() => replaceRegion('# Title\n', 'table', 'x', 'doc.md')).toThrow(/doc\.md has no generated region "table": put the lines/);
    expect(() => replaceRegion(`${endMarker('table')}\n${beginMarker('table')}\n`, 'table', 'x', 'doc.md')).toThrow(/no generated region/);
  });
});
