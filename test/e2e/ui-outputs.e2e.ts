/**
 * Outputs view against the production build: teacher and student generate the same demo problem
 * side by side, streamed (the text grows while it is not done), each column with tokens/s and the
 * correctness badge against the problem's answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

describe('outputs view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=outputs&outputs.maxNewTokens=40');
  });
  afterAll(async () => s?.close());

  it('streams teacher and student side by side with a correctness badge', async () => {
    const p = panel(s);
    await p.getByLabel('Demo problem').selectOption({ index: 1 });
    await p.getByRole('button', { name: 'Generate' }).click();
    const teacher = p.getByRole('region', { name: 'Teacher output' });
    const student = p.getByRole('region', { name: 'Student output' });
    // Streaming: a column shows some tokens before it is done.
    const counts: number[] = [];
    await expect.poll(async () => {
      const meta = (await teacher.locator('.meta').textContent()) ?? '';
      counts.push(Number(/(\d+) tokens/.exec(meta)?.[1] ?? 0));
      return /streaming/.test(meta) && counts[counts.length - 1] > 0;
    }, { timeout: 240_000, interval: 100 }).toBe(true);
    for (const col of [teacher, student]) await col.getByText(/done/).waitFor({ timeout: 240_000 });
    for (const [name, col] of [['teacher', teacher], ['student', student]] as const) {
      const meta = (await col.locator('.meta').textContent())!.replace(/\s+/g, ' ').trim();
      console.log(`${name}: ${meta} | ${(await col.locator('pre.answer').textContent())?.slice(0, 60)}`);
      expect(meta).toMatch(/\d+ tokens · [\d.]+ tokens\/s · done/);
      expect(meta).toMatch(/✓ correct|✗ (wrong|no answer) \(expected \d+\)/);
    }
    // The demo teacher solves 98% of the problems; its badge on this one must be a pass.
    expect(await teacher.getByText('✓ correct').count()).toBe(1);
    await screenshot(s, 'ui-outputs');
    expectNoConsoleErrors(s);
  });
});
