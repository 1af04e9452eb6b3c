import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, screenshot } from './ui-page.ts';

describe('playground shell (Chromium, WebGPU on SwiftShader)', () => {
  let s: Session;
  const t0 = Date.now();
  beforeAll(async () => {
    s = await openApp();
    console.log(`demo teacher + student loaded ${Date.now() - t0} ms after launch`);
  });
  afterAll(async () => s?.close());

  it('loads the demo teacher and student with no console errors', async () => {
    await expect.poll(() => s.page.getByText('demo-teacher').count()).toBeGreaterThan(0);
    await screenshot(s, 'ui-shell');
    expectNoConsoleErrors(s);
  });
});
