import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from './browser.ts';
import { SLOW, expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';

/** The numbers the view shows, read as a person would. */
async function readout(s: Session) {
  const num = async (label: string) => Number((await panel(s).getByLabel(label, { exact: true }).textContent())!.match(/[\d.]+/)![0]);
  return { T: await num('temperature'), kl: await num('KL divergence'), ht: await num('teacher entropy'), hs: await num('student entropy') };
}

describe('temperature & logits view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=probe');
    await panel(s).getByLabel('KL divergence', { exact: true }).waitFor({ timeout: 60_000 });
  });
  afterAll(async () => s?.close());

  it('shows paired teacher/student bars with a tail row for a demo problem', async () => {
    const table = panel(s).getByRole('table');
    await expect.poll(() => table.getByRole('row').count(), SLOW).toBeGreaterThan(3);
    await expect.poll(() => table.getByRole('rowheader', { name: /other \d+ tokens/ }).count(), SLOW).toBe(1);
    // The probed position defaults to the token before the answer's first digit.
    expect(await panel(s).getByRole('heading', { name: /After “\\boxed\{”/ }).count()).toBe(1);
  });

  it('re-softens both distributions as the log-scale temperature slider moves', async () => {
    const before = await readout(s);
    expect(before.T).toBe(1);
    const slider = panel(s).getByRole('slider', { name: 'Temperature' });
    await slider.focus();
    for (let i = 0; i < 40; i++) await s.page.keyboard.press('ArrowRight'); // 40 of 400 steps: ×10^0.2
    // At once: the last probe re-softened on the page (marked as an estimate) …
    await expect.poll(async () => (await readout(s)).T, SLOW).toBeCloseTo(1.58, 1);
    const estimate = await readout(s);
    // … then the exact probe at that temperature replaces it.
    await expect.poll(() => panel(s).getByText(/estimated from the probe/).count(), SLOW).toBe(0);
    const hot = await readout(s);
    console.log(`estimate vs exact at T ${hot.T}: KL ${estimate.kl} vs ${hot.kl}, student H ${estimate.hs} vs ${hot.hs}`);
    expect(hot.T).toBe(estimate.T);
    console.log(`T 1 → ${hot.T}: teacher H ${before.ht} → ${hot.ht}, student H ${before.hs} → ${hot.hs}, KL ${before.kl} → ${hot.kl}`);
    // Softening raises entropy (a property of temperature, not of this code's numbers).
    expect(hot.ht).toBeGreaterThan(before.ht);
    expect(hot.hs).toBeGreaterThan(before.hs);
    expect(new URL(s.page.url()).searchParams.get('probe.t')).toBe(String(hot.T));
    await screenshot(s, 'ui-probe');
    expectNoConsoleErrors(s);
  });
});
