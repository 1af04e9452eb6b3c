import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { SLOW, expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }
declare const axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> };

describe('playground shell, device view and accessibility (Chromium, WebGPU on SwiftShader)', () => {
  let s: Session;
  beforeAll(async () => {
    const t0 = Date.now();
    s = await openApp();
    console.log(`demo teacher + student loaded ${Date.now() - t0} ms after launch`);
    await panel(s).getByLabel('KL divergence', { exact: true }).waitFor(); // the first view's first probe
  });
  afterAll(async () => s?.close());

  it('loads the demo teacher and student and tells where work runs', async () => {
    expect(await s.page.getByText('demo-teacher').count()).toBeGreaterThan(0);
    expect(await s.page.getByRole('radio', { name: 'This browser (WebGPU)' }).isChecked()).toBe(true);
    await screenshot(s, 'ui-shell');
    expectNoConsoleErrors(s);
  });

  it('switches views with the arrow keys (tabs pattern) and keeps the view in the URL', async () => {
    const first = s.page.getByRole('tab', { selected: true });
    await first.focus();
    await s.page.keyboard.press('End');
    const last = s.page.getByRole('tab', { selected: true });
    await expect.poll(() => last.textContent(), SLOW).toBe('Lessons');
    await expect.poll(() => s.page.evaluate(() => (document.activeElement?.shadowRoot?.activeElement?.shadowRoot?.activeElement as HTMLElement | null)?.textContent), SLOW).toBe('Lessons');
    await s.page.keyboard.press('ArrowRight'); // wraps around to the first
    await expect.poll(() => s.page.getByRole('tab', { selected: true }).textContent(), SLOW).toBe('Temperature & logits');
    expect(new URL(s.page.url()).searchParams.get('view')).toBe('probe');
  });

  it('device view lists the adapter, features, limits and the GPU memory the engine holds', async () => {
    await s.page.getByRole('tab', { name: 'Device' }).click();
    const adapter = panel(s).getByRole('row', { name: /^Device / });
    await adapter.waitFor();
    const text = (await adapter.textContent())!;
    console.log('device row:', text.trim());
    expect(text).toMatch(/swiftshader.*WebGPU/i);
    const held = await panel(s).getByRole('row', { name: /^Held by the engine/ }).textContent();
    // The demo teacher alone is 1.5 MB of f32 weights.
    const mib = Number(held!.match(/([\d.]+) MiB/)?.[1]);
    console.log('GPU memory held:', held);
    expect(mib).toBeGreaterThan(1.4);
    expect(await panel(s).getByRole('row', { name: /^maxBufferSize / }).count()).toBe(1);
    await screenshot(s, 'ui-device');
  });

  it('has no serious or critical axe violations on any view', async () => {
    await s.page.addScriptTag({ content: readFileSync('node_modules/axe-core/axe.min.js', 'utf8') });
    const tabs = await s.page.getByRole('tab').allTextContents();
    const found: string[] = [];
    for (const name of tabs) {
      await s.page.getByRole('tab', { name, exact: true }).click();
      await s.page.waitForTimeout(1500); // let the view's first probe render
      const { violations } = await s.page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
      for (const v of violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        found.push(`${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`);
      }
    }
    console.log(`axe over ${tabs.length} views: ${found.length} serious/critical`, found);
    expect(found).toEqual([]);
    expectNoConsoleErrors(s);
  });

  it('loads a model folder picked on this computer as the student', async () => {
    // The demo teacher's folder, as the student: its name and size replace the demo student's.
    await s.page.getByLabel('Model folder for the student').setInputFiles('public/models/demo-teacher');
    const teacherSized = s.page.getByText(/Qwen2ForCausalLM · 379k params ·\s+6 layers/);
    await expect.poll(() => teacherSized.count(), { timeout: 120_000 }).toBe(2); // teacher and student
    await screenshot(s, 'ui-shell-folder-student');
    expectNoConsoleErrors(s);
  });

  it('explains a missing WebGPU instead of a broken page, and shows a runner error in place', async () => {
    s.consoleErrors.length = 0;
    await s.page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await s.page.reload();
    const alert = s.page.getByRole('alert').filter({ hasText: 'WebGPU is not available here' });
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Chrome or Edge.*Runner/s);
    await screenshot(s, 'ui-shell-no-webgpu');
    await s.page.getByRole('radio', { name: 'Runner' }).check();
    await s.page.getByLabel('Runner URL').fill('http://127.0.0.1:9'); // nothing listens on the discard port
    await s.page.getByRole('button', { name: 'Connect' }).click();
    const failed = s.page.getByRole('alert');
    await expect.poll(() => failed.textContent(), SLOW).toMatch(/fetch/i);
    console.log('runner error shown:', await failed.textContent());
    expect(await s.page.evaluate(() => localStorage.getItem('retort.mode'))).toBe('runner');
    await s.page.evaluate(() => localStorage.clear());
    // The connection failure is the page's only console error (the browser logs the refused request).
    expect(s.consoleErrors.every((e) => /ERR_CONNECTION_REFUSED|Failed to load resource|Failed to fetch/.test(e))).toBe(true);
  });
});
