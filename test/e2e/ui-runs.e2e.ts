/**
 * Runs view against the production build, on two runs stored the way the Train view stores them
 * (IndexedDB "retort"): both curves overlaid, the config field that differs (and only it) listed,
 * and the CSV export holding every step of both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';
import { demoConfig } from '../../src/ui/components/demo-config.ts';
import { newRun } from '../../src/ui/components/run-model.ts';

function run(job: string, alpha: number, steps: number) {
  const spec = demoConfig(null) as { kind: 'distill'; stages: { loss: { alpha: number }; stop: { steps: number } }[] };
  spec.stages[0].loss.alpha = alpha;
  const r = newRun(job, 'local', spec as never);
  r.state = 'finished';
  r.steps = Array.from({ length: steps }, (_, i) => ({ step: i, stage: 0, loss: 5 / (1 + i * alpha), time: 1e12 + i, metrics: { soft: 1, hard: 2 } }));
  return r;
}

describe('runs view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=device');
  });
  afterAll(async () => s?.close());

  it('overlays curves, diffs configs and exports metrics', async () => {
    const runs = [run('local-1', 0.5, 6), run('local-2', 0.9, 4)];
    await s.page.evaluate(async (records) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open('retort', 1);
        open.onupgradeneeded = () => {
          open.result.createObjectStore('runs', { keyPath: 'id' });
          open.result.createObjectStore('files');
        };
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const tx = db.transaction('runs', 'readwrite');
      for (const r of records) tx.objectStore('runs').put(r);
      await new Promise((r) => (tx.oncomplete = r));
      db.close();
    }, runs);
    await s.page.getByRole('tab', { name: 'Runs' }).click();
    const p = panel(s);
    await p.getByLabel('compare local-1').check();
    await p.getByLabel('compare local-2').check();
    const chart = p.getByRole('img', { name: /^loss by step/ });
    expect(await chart.getAttribute('aria-label')).toMatch(/6 points; latest local-1 .*, local-2 /);
    const diff = p.getByRole('table', { name: 'Config differences' });
    const rows = await diff.locator('tbody tr').allTextContents();
    console.log('config differences:', rows);
    expect(rows).toEqual(['stages.0.loss.alpha0.50.9']);
    await screenshot(s, 'ui-runs');

    const [download] = await Promise.all([s.page.waitForEvent('download'), p.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = (await readFile((await download.path())!, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('run,job,step,stage,time,loss,soft,hard');
    expect(csv).toHaveLength(1 + 6 + 4);
    expect(Number(csv[2].split(',')[5])).toBeCloseTo(5 / 1.5, 6);
    expectNoConsoleErrors(s);
  });
});
