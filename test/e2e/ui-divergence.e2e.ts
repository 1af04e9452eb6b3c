import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { SLOW, expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

describe('divergence map', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=divergence');
  });
  afterAll(async () => s?.close());

  it('colors every predicted token by KL in nats, with a legend', async () => {
    const strip = panel(s).getByRole('group', { name: /Tokens colored by KL/ });
    await strip.waitFor({ timeout: 60_000 });
    expect(await panel(s).getByRole('img', { name: /^KL \(nats\): light is 0, dark is [\d.]+ or more$/ }).count()).toBe(1);
    const notes = await strip.getByRole('button').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label') ?? ''));
    const kls = notes.map((n) => n.match(/KL ([\d.]+) nats/)?.[1]).filter(Boolean).map(Number);
    console.log(`${notes.length} tokens, ${kls.length} scored; KL max ${Math.max(...kls).toFixed(3)} nats`);
    expect(kls.length).toBe(notes.length - 1); // every token but the first is predicted
    expect(Math.max(...kls)).toBeGreaterThan(0);
    await screenshot(s, 'ui-divergence');
  });

  it('opens a clicked token’s distributions in the logits view', async () => {
    // The answer's first digit: the token after `\boxed{`.
    const strip = panel(s).getByRole('group', { name: /Tokens colored by KL/ });
    const boxed = strip.getByRole('button', { name: /^\d+: \\boxed\{,/ });
    const index = Number((await boxed.getAttribute('aria-label'))!.split(':')[0]);
    await strip.getByRole('button', { name: new RegExp(`^${index + 1}: `) }).click();
    await expect.poll(() => s.page.getByRole('tab', { name: 'Temperature & logits', selected: true }).count(), SLOW).toBe(1);
    const heading = panel(s).getByRole('heading', { name: new RegExp(`After “\\\\boxed\\{” \\(position ${index}\\)`) });
    await heading.waitFor({ timeout: 60_000 });
    expect(new URL(s.page.url()).searchParams.get('probe.pos')).toBe(String(index));
    await screenshot(s, 'ui-divergence-opened');
    expectNoConsoleErrors(s);
  });
});
