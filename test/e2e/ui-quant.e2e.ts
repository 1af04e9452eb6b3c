/**
 * Quantization view against the production build: the demo student is exported to ONNX q4 in the
 * page (ONNX worker), loaded with transformers.js on WebGPU and compared with the engine at fp32 —
 * the KL, accuracy and speed numbers appear; the exported folder downloads as a .tar holding
 * onnx/model_q4.onnx; then the outputs view's third column streams from the quantized student; last,
 * a checkpoint of a run in this tab (seeded into the run store: the demo student's weights without
 * tokenizer files, as the engine saves them) is exported q8 and compared with its own full precision.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot, seriousAxeViolations } from './ui-page.ts';

describe('quantization view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=quant&quant.dtype=q4&quant.problems=1&quant.maxTokens=12');
  });
  afterAll(async () => s?.close());

  it('exports q4 in the page and shows KL, accuracy and speed beside full precision', async () => {
    const p = panel(s);
    const t0 = Date.now();
    await p.getByRole('button', { name: 'Export the current student' }).click();
    await p.getByRole('status').waitFor(); // progress while it works
    const table = p.getByRole('table', { name: /Full precision vs quantized on 1 demo problem$/ });
    await table.waitFor({ timeout: 240_000 });
    console.log(`export + load + compare: ${Date.now() - t0} ms`);
    const row = async (name: string) => ((await table.getByRole('row', { name: new RegExp(`^${name}`) }).textContent()) ?? '').replace(/\s+/g, ' ');
    for (const name of ['exact-match accuracy', 'perplexity', 'model bytes', 'prefill tokens/s', 'decode tokens/s', 'KL']) console.log(await row(name));
    expect(await row('exact-match accuracy')).toMatch(/accuracy\s*\d+%\s*\d+%/);
    const kl = /mean ([\d.e+-]+) · max ([\d.e+-]+) nats/.exec(await row('KL'));
    expect(kl).not.toBeNull();
    // q4 moves the distribution, but not far: the demo student's q4 KL is ~1e-3 nats/token in the ONNX parity test.
    expect(Number(kl![1])).toBeGreaterThan(0);
    expect(Number(kl![2])).toBeLessThan(1);
    expect(await table.getByRole('columnheader', { name: /onnx q4 \(webgpu\)/ }).count()).toBe(1);
    expect(await p.getByText(/Running on WebGPU/).count()).toBe(1);
    expect(await p.getByRole('list', { name: 'KL per token' }).getByRole('listitem').count()).toBeGreaterThan(3);

    const [download] = await Promise.all([s.page.waitForEvent('download'), p.getByRole('button', { name: /Download the exported folder/ }).click()]);
    const listing = execFileSync('tar', ['tf', await download.path()], { encoding: 'utf8' });
    console.log(`${download.suggestedFilename()}: ${listing.trim().split('\n').join(', ')}`);
    expect(listing).toMatch(/demo-student-q4\/onnx\/model_q4\.onnx/);
    expect(listing).toMatch(/demo-student-q4\/tokenizer\.json/);

    const serious = await seriousAxeViolations(s);
    console.log(`axe: ${serious.length} serious/critical`, serious);
    expect(serious).toEqual([]);
    await screenshot(s, 'ui-quant');
    expectNoConsoleErrors(s);
  });

  it('streams the quantized student in the outputs view\'s third column', async () => {
    await s.page.getByRole('tab', { name: 'Outputs', exact: true }).click();
    const p = panel(s);
    await p.getByLabel('Demo problem').selectOption({ index: 1 });
    await p.getByLabel('max tokens').fill('12');
    await p.getByLabel('max tokens').dispatchEvent('change');
    await p.getByRole('button', { name: 'Generate' }).click();
    const quant = p.getByRole('region', { name: /Quantized student \(q4, webgpu, greedy\) output/ });
    const seen: number[] = [];
    await expect.poll(async () => {
      const meta = (await quant.locator('.meta').textContent()) ?? '';
      seen.push(Number(/(\d+) tokens/.exec(meta)?.[1] ?? 0));
      return /done/.test(meta);
    }, { timeout: 240_000, interval: 100 }).toBe(true);
    const meta = (await quant.locator('.meta').textContent())!.replace(/\s+/g, ' ').trim();
    console.log(`quantized: ${meta} | ${(await quant.textContent())?.replace(/\s+/g, ' ').slice(0, 120)} | token counts seen: ${[...new Set(seen)].join(',')}`);
    expect(meta).toMatch(/\d+ tokens · [\d.]+ tokens\/s · done/);
    expect(meta).toMatch(/✓ correct|✗ (wrong|no answer)/);
    // Streamed: counts between none and the final one were on screen.
    expect(new Set(seen).size).toBeGreaterThan(2);
    for (const col of ['Teacher output', 'Student output']) await p.getByRole('region', { name: col }).getByText(/done/).waitFor({ timeout: 240_000 });
    expect(await seriousAxeViolations(s)).toEqual([]);
    await screenshot(s, 'ui-quant-outputs');
    expectNoConsoleErrors(s);
  });

  it('exports a checkpoint saved by a run in this tab', async () => {
    await s.page.evaluate(async () => {
      const files: Record<string, Uint8Array> = {};
      for (const name of ['config.json', 'model.safetensors']) files[name] = new Uint8Array(await (await fetch(`models/demo-student/${name}`)).arrayBuffer());
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open('retort', 1);
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const tx = db.transaction(['runs', 'files'], 'readwrite');
      tx.objectStore('runs').put({
        id: 'local:local-1:1', job: 'local-1', mode: 'local', created: 1, state: 'completed', steps: [], lastSeq: 3, errors: [], log: [], totalSteps: 5,
        spec: { kind: 'distill', teacher: { path: 'models/demo-teacher' }, student: { path: 'models/demo-student' }, stages: [] },
        checkpoints: [{ step: 5, path: 'step-5', bytes: files['model.safetensors'].length, time: 1 }],
      });
      for (const [name, bytes] of Object.entries(files)) tx.objectStore('files').put(bytes, `local:local-1:1/5/${name}`);
      await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
    });
    await s.page.getByRole('tab', { name: 'Quantization', exact: true }).click();
    const p = panel(s);
    await p.getByLabel('Student').selectOption({ label: 'local-1 step 5' });
    await p.getByLabel('Type').selectOption('q8');
    await p.getByRole('button', { name: 'Export the current student' }).click();
    await p.getByText(/onnx\/model_quantized\.onnx, int8 symmetric, per channel/).waitFor({ timeout: 240_000 });
    const table = p.getByRole('table', { name: /Full precision vs quantized/ });
    await table.getByRole('columnheader', { name: /onnx q8 \(webgpu\)/ }).waitFor({ timeout: 240_000 });
    const klRow = ((await table.getByRole('row', { name: /^KL/ }).textContent()) ?? '').replace(/\s+/g, ' ');
    console.log(`checkpoint q8: ${klRow}`);
    const kl = /mean ([\d.e+-]+) · max ([\d.e+-]+) nats/.exec(klRow);
    expect(kl).not.toBeNull();
    // int8 per channel moves the student's distribution less than int4 in groups of 32 (2.9e-3 nats mean).
    expect(Number(kl![1])).toBeLessThan(1e-3);
    await screenshot(s, 'ui-quant-checkpoint');
    expectNoConsoleErrors(s);
  });
});
