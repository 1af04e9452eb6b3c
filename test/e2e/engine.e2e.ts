import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPage, SCREENSHOTS, type Session } from './browser.ts';

interface HarnessWindow {
  engine: {
    env(): Promise<{ adapter: string; isSoftware: boolean; features: Record<string, boolean> }>;
    selfTest(steps: number): Promise<{ adapter: string; forwardMs: number; losses: number[]; stepMs: number[] }>;
  };
}

describe('engine in a browser worker (Chromium, WebGPU)', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openPage('/harness.html');
  });
  afterAll(async () => s?.close());

  it('finds a real WebGPU adapter in the worker (no CPU fallback)', async () => {
    const env = await s.page.evaluate(() => (window as unknown as HarnessWindow).engine.env());
    console.log('adapter in worker:', env.adapter);
    expect(env.adapter.length).toBeGreaterThan(0);
    expect(env.adapter).not.toBe('unknown adapter');
  });

  it('runs a forward pass and 5 training steps with the loss going down', async () => {
    const r = await s.page.evaluate(() => (window as unknown as HarnessWindow).engine.selfTest(5));
    console.log(`forward ${r.forwardMs.toFixed(0)} ms; losses ${r.losses.map((l) => l.toFixed(4)).join(' → ')}; step ms ${r.stepMs.map((m) => m.toFixed(0)).join(', ')}`);
    expect(r.losses).toHaveLength(5);
    for (const l of r.losses) expect(Number.isFinite(l)).toBe(true);
    expect(r.losses[4]).toBeLessThan(r.losses[0]);
    await s.page.screenshot({ path: `${SCREENSHOTS}/engine-harness.png` });
    if (s.consoleErrors.length) console.log('console errors:', s.consoleErrors);
    expect(s.consoleErrors).toEqual([]);
  });
});
