/**
 * Links between the docs rot when a file or a heading moves: every relative link of the
 * README and of docs/ must name a file that exists and, when it has a #fragment, a heading
 * of that file (GitHub's anchors).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const docs = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(root, 'docs', name))];

/** The markdown outside fenced code blocks, where links are links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor of each heading: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(markdown).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = heading!.toLowerCase().replace(/[^\p{L}\p{N}_ -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The relative links of a markdown file: [text](target), without external ones. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('links in README.md and docs/', () => {
  it('finds the docs and their links', () => {
    expect(docs.length).toBeGreaterThan(5);
    expect(docs.flatMap((file) => relativeLinks(readFileSync(file, 'utf8'))).length).toBeGreaterThan(10);
  });

  for (const file of docs) {
    it(`every relative link of ${relative(root, file)} resolves`, () => {
      const broken: string[] = [];
      for (const link of relativeLinks(readFileSync(file, 'utf8'))) {
        const [path, fragment] = link.split('#') as [string, string | undefined];
        const target = path === '' ? file : join(dirname(file), path);
        if (!existsSync(target)) {
          broken.push(`${link}: no file ${relative(root, target)}`);
        } else if (fragment !== undefined && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(fragment)) {
          broken.push(`${link}: no heading with the anchor #${fragment} in ${relative(root, target)}`);
        }
      }
      expect(broken, `${relative(root, file)} has broken links`).toEqual([]);
    });
  }

  it('computes anchors as GitHub does', () => {
    expect(anchorsOf("# Every command's help\n## The `--sandbox` flag\n## Retries\n## Retries\n")).toEqual(new Set(['every-commands-help', 'the---sandbox-flag', 'retries', 'retries-1']));
  });
});
