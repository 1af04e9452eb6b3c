/**
 * One UI for both modes: a real runner (HTTP, SQLite job store, the fake Python worker from the
 * runner tests) next to the production build; the page switches to runner mode, submits a distill
 * job from the Train view's form, and watches it in the same Train view — curve, final state and
 * the checkpoint, downloaded through the runner's file routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';
import { makeWorkspace, startFakeRunner, TOKEN } from '../runner/helpers.ts';
import type { Runner } from '../../src/runner/runner.ts';

describe('runner mode', () => {
  let s: Session;
  let runner: Runner;
  beforeAll(async () => {
    s = await openApp('?view=train');
    runner = await startFakeRunner(makeWorkspace(), { allowOrigins: [s.url] });
  });
  afterAll(async () => {
    await s?.close();
    await runner?.close();
  });

  it('submits a job from the page and shows it in the train view', async () => {
    const page = s.page;
    await page.getByLabel('Runner', { exact: true }).check();
    await page.getByLabel('Runner URL').fill(runner.url);
    await page.getByRole('textbox', { name: 'Token', exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
    const p = panel(s);
    await p.getByText('Runs on the runner').waitFor({ timeout: 30_000 });

    // The fake worker reads its pace from the stage name; the workspace has models/{teacher,student} and data/train.jsonl.
    await p.getByRole('group', { name: 'teacher', exact: true }).getByLabel('path', { exact: true }).fill('models/teacher');
    await p.getByRole('group', { name: 'student', exact: true }).getByLabel('path', { exact: true }).fill('models/student');
    await p.getByRole('group', { name: 'data', exact: true }).getByLabel('path', { exact: true }).fill('data/train.jsonl');
    await p.getByLabel('format', { exact: true }).selectOption('auto'); // its lines are prompt-completion
    await p.getByLabel('name', { exact: true }).fill('fake step_ms=150');
    await p.getByLabel('steps', { exact: true }).fill('12');
    await p.getByLabel('teacherTargets', { exact: true }).selectOption('none');
    await p.getByLabel('divergence', { exact: true }).selectOption('none');
    await p.getByLabel('alpha', { exact: true }).fill('0');
    await p.getByLabel('alpha', { exact: true }).press('Tab');
    await p.getByRole('button', { name: 'Start' }).click();

    await expect.poll(() => p.getByRole('status').textContent(), { timeout: 60_000 }).toMatch(/^(finished|failed|stopped)$/);
    if ((await p.getByRole('status').textContent()) !== 'finished') console.log('job errors:', await p.getByRole('alert').allTextContents());
    expect(await p.getByRole('status').textContent()).toBe('finished');
    const label = await p.getByRole('img', { name: /^Loss/ }).getAttribute('aria-label');
    console.log('runner job in the train view:', label);
    expect(label).toMatch(/: 12 points/);
    const jobs = (await (await fetch(`${runner.url}/v1/jobs`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { id: string; state: string }[];
    expect(jobs.map((j) => j.state)).toEqual(['finished']);
    expect(await p.locator('code').first().textContent()).toBe(jobs[0].id);

    const [file] = await Promise.all([page.waitForEvent('download'), p.getByRole('button', { name: 'download checkpoint step 12' }).click()]);
    const bytes = await readFile((await file.path())!);
    expect(new TextDecoder().decode(bytes.subarray(0, 100))).toContain('/model.safetensors');
    await screenshot(s, 'ui-runner-train');
    expectNoConsoleErrors(s);
  });
});
