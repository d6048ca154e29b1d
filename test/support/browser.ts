/**
 * A real browser for the dashboard's tests: Debian's Chromium (/usr/bin/chromium, installed
 * by .ci/run when missing; never a downloaded one) driven by playwright-core. As root (CI),
 * Chromium's own sandbox cannot start and is turned off; the rest of the flags keep it from
 * reaching the network or doing work of its own while tests run.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const chromiumPath = process.env.SCHEDULER_TEST_CHROMIUM ?? '/usr/bin/chromium';

const quietFlags = ['--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function launchBrowser(): Promise<Browser> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) console.log('browser tests: running as root, so Chromium starts with --no-sandbox');
  return chromium.launch({ executablePath: chromiumPath, args: [...(asRoot ? ['--no-sandbox'] : []), ...quietFlags] });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** One accessibility rule broken on the page, with where. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core in the page (evaluated by the browser's debugger, so the page's
 * Content-Security-Policy, which forbids inline script, does not stop it) and answers the
 * violations of the impacts asked for.
 */
export async function accessibilityViolations(page: Page, impacts: readonly string[] = ['serious', 'critical']): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const report = await axe.run(document, { resultTypes: ['violations'] });
    return report.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
  });
  return results.filter((violation) => impacts.includes(violation.impact ?? ''));
}
