/**
 * Train view against the production build: a bad field shows the validator's message, a short run
 * in the tab's WebGPU worker grows the loss curve, pause / resume / stop act, the checkpoint downloads
 * as an HF folder, the run and its checkpoint survive a reload, and the main thread stays responsive
 * while the worker trains (longest task printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

/** Points in the loss chart, read from its accessible label ("…: N points; latest …"). */
async function lossPoints(page: Page): Promise<number> {
  const label = await page.getByRole('img', { name: /^Loss/ }).getAttribute('aria-label');
  return Number(/: (\d+) points/.exec(label ?? '')?.[1] ?? 0);
}

describe('train view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=train');
  });
  afterAll(async () => s?.close());

  it('shows a bad field’s message, trains, pauses, resumes, stops, keeps the checkpoint across a reload', async () => {
    const p = panel(s);
    const page = s.page;
    // Longest main-thread task while the worker trains (Chromium's Long Tasks API: tasks ≥ 50 ms).
    await page.evaluate(() => {
      const w = window as unknown as { longest: number; longTasks: number };
      w.longest = 0;
      w.longTasks = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          w.longest = Math.max(w.longest, e.duration);
          w.longTasks++;
        }
      }).observe({ type: 'longtask' });
    });

    const alpha = p.getByLabel('alpha', { exact: true });
    await alpha.fill('1.5');
    await alpha.press('Tab');
    await expect.poll(() => p.getByText('alpha: must be ≤ 1').count()).toBeGreaterThan(0);
    expect(await p.getByRole('button', { name: 'Start' }).isDisabled()).toBe(true);
    await screenshot(s, 'ui-train-bad-field');
    await alpha.fill('0.7');
    await alpha.press('Tab');
    await expect.poll(() => p.getByText('alpha: must be ≤ 1').count()).toBe(0);

    await p.getByLabel('steps', { exact: true }).fill('40');
    await p.getByLabel('microBatch', { exact: true }).fill('2');
    await p.getByLabel('maxSeqLen', { exact: true }).fill('64');
    // The validation split: tokenizing the 12,000-line training split takes the worker ~30 s here.
    await p.getByRole('group', { name: 'data' }).getByLabel('path', { exact: true }).fill('data/arith/val.jsonl');
    await p.getByRole('group', { name: 'checkpoint' }).getByLabel('everySteps', { exact: true }).fill('3');
    await p.getByLabel('maxSeqLen', { exact: true }).press('Tab');

    await p.getByRole('button', { name: 'Start' }).click();
    // Measure the training itself, not the form edits above.
    await page.evaluate(() => {
      const w = window as unknown as { longest: number; longTasks: number };
      w.longest = 0;
      w.longTasks = 0;
    });
    await expect.poll(() => lossPoints(page), { timeout: 240_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    const early = await lossPoints(page);
    await expect.poll(() => lossPoints(page), { timeout: 120_000, interval: 500 }).toBeGreaterThan(early);
    console.log(`loss curve: ${early} → ${await lossPoints(page)} points`);

    await p.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => p.getByRole('status').textContent(), { timeout: 60_000 }).toBe('paused');
    const paused = await lossPoints(page);
    await page.waitForTimeout(1500);
    expect(await lossPoints(page)).toBe(paused);
    await p.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => lossPoints(page), { timeout: 60_000, interval: 300 }).toBeGreaterThan(paused);
    await p.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => p.getByRole('status').textContent(), { timeout: 120_000 }).toBe('stopped');
    const stoppedAt = await lossPoints(page);
    await screenshot(s, 'ui-train-run');

    const { longest, longTasks } = await page.evaluate(() => {
      const w = window as unknown as { longest: number; longTasks: number };
      return { longest: w.longest, longTasks: w.longTasks };
    });
    console.log(`main thread during local training: longest task ${longest.toFixed(0)} ms (${longTasks} tasks ≥ 50 ms)`);

    // The last checkpoint (written on stop) downloads as a tar of an HF folder.
    const download = p.getByRole('button', { name: /^download checkpoint step/ }).last();
    await download.waitFor({ timeout: 30_000 });
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    const bytes = await (await import('node:fs/promises')).readFile((await file.path())!);
    const names = tarNames(bytes);
    console.log(`downloaded ${file.suggestedFilename()}: ${bytes.length} bytes, ${names.join(', ')}`);
    expect(names.map((n) => n.split('/')[1])).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));

    // After a reload the run, its curve and its checkpoint come back from IndexedDB.
    await page.reload();
    await page.getByText('demo-student').first().waitFor({ timeout: 180_000 });
    await expect.poll(() => lossPoints(page), { timeout: 30_000 }).toBe(stoppedAt);
    const [again] = await Promise.all([page.waitForEvent('download'), p.getByRole('button', { name: /^download checkpoint step/ }).last().click()]);
    expect(again.suggestedFilename()).toBe(file.suggestedFilename());
    await screenshot(s, 'ui-train-reloaded');
    expectNoConsoleErrors(s);
  });
});

/** File names in a ustar archive (to check the download without a tar library). */
function tarNames(bytes: Uint8Array): string[] {
  const names: string[] = [];
  for (let at = 0; at + 512 <= bytes.length; ) {
    const name = new TextDecoder().decode(bytes.subarray(at, at + 100)).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at + 124, at + 136)).replace(/\0.*$/s, ''), 8);
    names.push(name);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}
