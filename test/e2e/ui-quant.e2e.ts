/**
 * Quantization view against the production build: the demo student is exported to ONNX q4 in the
 * page (ONNX worker), loaded with transformers.js on WebGPU and compared with the engine at fp32 —
 * the KL, accuracy and speed numbers appear; the exported folder downloads as a .tar holding
 * onnx/model_q4.onnx; then the outputs view's third column streams from the quantized student.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }
declare const axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> };

describe('quantization view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=quant&quant.dtype=q4&quant.problems=2');
  });
  afterAll(async () => s?.close());

  it('exports q4 in the page and shows KL, accuracy and speed beside full precision', async () => {
    const p = panel(s);
    const t0 = Date.now();
    await p.getByRole('button', { name: 'Export the current student' }).click();
    await p.getByRole('status').waitFor(); // progress while it works
    const table = p.getByRole('table', { name: /Full precision vs quantized on 2 demo problems/ });
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

    await s.page.addScriptTag({ content: readFileSync('node_modules/axe-core/axe.min.js', 'utf8') });
    const { violations } = await s.page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} ${JSON.stringify(v.nodes.slice(0, 2).map((n) => n.target))}`);
    console.log(`axe: ${serious.length} serious/critical`, serious);
    expect(serious).toEqual([]);
    await screenshot(s, 'ui-quant');
    expectNoConsoleErrors(s);
  });

  it('streams the quantized student in the outputs view\'s third column', async () => {
    await s.page.getByRole('tab', { name: 'Outputs', exact: true }).click();
    const p = panel(s);
    await p.getByLabel('Demo problem').selectOption({ index: 1 });
    await p.getByLabel('max tokens').fill('40');
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
    await screenshot(s, 'ui-quant-outputs');
    expectNoConsoleErrors(s);
  });
});
