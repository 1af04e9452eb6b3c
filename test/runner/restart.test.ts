/**
 * A runner restart loses nothing: the runner runs in its own process (real child), is killed with
 * SIGKILL mid-job, then stopped with SIGTERM mid-job; each time the next runner on the same
 * workspace re-queues the job and the worker resumes from the newest checkpoint until it finishes.
 */
import { afterAll, expect, it } from 'vitest';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { alive, call, killRunnerProcess, events, fakeSpec, makeWorkspace, readSse, startRunnerProcess, stopRunnerProcesses, waitFor, waitForState } from './helpers.ts';

afterAll(stopRunnerProcesses);

it('resumes a job after the runner is killed (-9) and after it is stopped (SIGTERM)', async () => {
  const ws = makeWorkspace();
  const a = await startRunnerProcess(ws);
  const created = await call(a, 'POST', '/v1/jobs', fakeSpec('fake step_ms=25', 120, 10));
  expect(created.status).toBe(201);
  const id: string = created.json.id;
  const listed = async (r: { url: string }) => ((await call(r, 'GET', `/v1/jobs/${id}/checkpoints`)).json as { step: number }[]).map((c) => c.step);
  await waitFor('checkpoint 20', async () => (await listed(a)).includes(20));
  const orphan = Number(/pid (\d+)/.exec(JSON.stringify((await call(a, 'GET', `/v1/jobs/${id}`)).json) + (await eventsOf(a, id)).map((e) => (e.type === 'log' ? e.message : '')).join(' '))![1]);
  expect(alive(orphan)).toBe(true);

  await killRunnerProcess(a, 'SIGKILL');
  const b = await startRunnerProcess(ws);
  expect(alive(orphan)).toBe(false); // the new runner ended the old worker before restarting the job
  const lastBefore = Math.max(...(await listed(b)).filter((s) => s <= 120));
  await waitFor('progress after the first restart', async () => (await listed(b)).some((s) => s >= lastBefore + 20));

  await killRunnerProcess(b, 'SIGTERM');
  expect(b.child.exitCode).toBe(0);
  const c = await startRunnerProcess(ws);
  const job = await waitForState(c, id, ['finished', 'failed'], 30_000);
  expect(job.state, job.error).toBe('finished');
  expect(job.attempts).toBe(3);

  const evs = await eventsOf(c, id);
  expect(evs.map((e) => e.seq)).toEqual([...evs.keys()]); // nothing lost across three runners
  const states = evs.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
  expect(states).toEqual(['queued', 'running', 'queued', 'running', 'queued', 'running', 'finished']);
  const resumes = evs.filter((e) => e.type === 'log' && e.message.startsWith('resumed from step')).map((e) => (e as { message: string }).message);
  expect(resumes).toHaveLength(2);
  // Each worker went on from the checkpoint it was given: steps never restart from 1.
  const steps = evs.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step);
  expect(steps.filter((s) => s === 1)).toHaveLength(1);
  expect(steps.at(-1)).toBe(120);
  const resumedAt = resumes.map((m) => Number(/step (\d+)/.exec(m)![1]));
  expect(resumedAt[0]).toBeGreaterThanOrEqual(20);
  expect(resumedAt[1]).toBeGreaterThan(resumedAt[0]);
  console.log(`resumed at steps ${resumedAt.join(', ')}; ${evs.length} events, ${steps.length} step events over 3 runners`);
  await killRunnerProcess(c, 'SIGTERM');
});

async function eventsOf(r: { url: string }, id: string): Promise<TelemetryEvent[]> {
  const total = (await call(r, 'GET', `/v1/jobs/${id}`)).json.events as number;
  return events((await readSse(`${r.url}/v1/events?jobs=${id}`, { stop: (_m, all) => all.length >= total })).messages);
}
