/**
 * Helpers for the playground's e2e tests: open the production build, wait until the demo teacher
 * and student are loaded, and scope queries to a view.
 */
import { readFileSync } from 'node:fs';
import type { Locator } from 'playwright-core';
import { expect } from 'vitest';
import { openPage, SCREENSHOTS, type Session } from './browser.ts';

/**
 * Opens the playground at `query` (e.g. '?view=probe') and waits for the demo models to load.
 * On SwiftShader the GPU process also draws the page, so while the first probe compiles its
 * shaders no frame comes for tens of seconds: actions get long timeouts.
 */
export async function openApp(query = ''): Promise<Session> {
  const s = await openPage(`/${query}`);
  s.page.setDefaultTimeout(120_000);
  // A console 404 names no URL: record which request failed.
  s.page.on('response', (r) => { if (r.status() >= 400) s.consoleErrors.push(`HTTP ${r.status()} ${r.url()}`); });
  await s.page.getByRole('tablist', { name: 'Views' }).waitFor({ timeout: 60_000 });
  // The models line shows each model's name once loaded; the progress bar goes away.
  await s.page.getByText('demo-student').first().waitFor({ timeout: 180_000 });
  return s;
}

/** For expect.poll: a frame can take tens of seconds while SwiftShader compiles a probe's shaders. */
export const SLOW = { timeout: 60_000 } as const;

export async function screenshot(s: Session, name: string): Promise<void> {
  await s.page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true, timeout: 120_000 });
}

/** The active view's panel. */
export function panel(s: Session): Locator {
  return s.page.getByRole('tabpanel');
}

/** Fails on any console error the page logged, printing them first. */
export function expectNoConsoleErrors(s: Session): void {
  if (s.consoleErrors.length) console.log('console errors:', s.consoleErrors);
  expect(s.consoleErrors).toEqual([]);
}

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }
declare const axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> };

/** axe-core over the page as it is now: its serious and critical violations, one line each. */
export async function seriousAxeViolations(s: Session): Promise<string[]> {
  if (!(await s.page.evaluate(() => 'axe' in window))) await s.page.addScriptTag({ content: readFileSync('node_modules/axe-core/axe.min.js', 'utf8') });
  const { violations } = await s.page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`);
}
