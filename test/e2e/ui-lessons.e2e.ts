import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { SLOW, expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

describe('lessons', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=lessons');
  });
  afterAll(async () => s?.close());

  it('steps through the tour, each step live on the demo models', async () => {
    const heading = panel(s).getByRole('heading', { level: 2, name: /^\d\. / });
    const next = panel(s).getByRole('button', { name: 'Next' });
    await expect.poll(() => heading.textContent(), SLOW).toBe('1. Soft targets');
    await panel(s).getByLabel('KL divergence', { exact: true }).waitFor({ timeout: 60_000 });

    await next.click();
    await expect.poll(() => heading.textContent(), SLOW).toBe('2. Temperature');
    // The lesson sets the slider to T = 4: the embedded view probes there.
    await expect.poll(() => panel(s).getByLabel('temperature', { exact: true }).textContent(), SLOW).toBe('T = 4.00');
    await screenshot(s, 'ui-lessons-temperature');

    await next.click();
    await expect.poll(() => heading.textContent(), SLOW).toBe('3. KL vs cross-entropy');
    await panel(s).getByRole('group', { name: /Tokens colored by KL/ }).waitFor({ timeout: 60_000 });
    await next.click();
    await panel(s).getByRole('group', { name: /Tokens colored by Cross-entropy/ }).waitFor({ timeout: 60_000 });
    await next.click();
    await expect.poll(() => heading.textContent(), SLOW).toBe('5. Training the student');
    expect(await next.isDisabled()).toBe(true);

    await panel(s).getByRole('button', { name: 'Train the student for 5 steps' }).click();
    await expect.poll(() => s.page.getByRole('tab', { name: 'Train', selected: true }).count(), SLOW).toBe(1);
    const url = new URL(s.page.url()).searchParams;
    expect(url.get('train.steps')).toBe('5');
    // The train view took the hand-over: a 5-step run started on its own (autostart is consumed, so a reload does not start another).
    const train = panel(s);
    await train.getByText(/step [1-5] \/ 5/).waitFor({ timeout: 240_000 }); // the view lives in a shadow root: locators pierce it, textContent does not
    expect(new URL(s.page.url()).searchParams.get('train.autostart')).toBeNull();
    await screenshot(s, 'ui-lessons-train');
    await train.getByRole('button', { name: 'Stop' }).click().catch(() => undefined); // may already have finished
    expectNoConsoleErrors(s);
  });
});
