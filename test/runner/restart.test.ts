/**
 * A runner restart loses nothing: the runner runs in its own process (real child), is killed with
 * SIGKILL mid-job, then stopped with SIGTERM mid-job; each time the next runner on the same
 * workspace re-queues the job and the worker resumes from the newest checkpoint until it finishes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { call, events, fakeSpec, makeWorkspace, readSse, waitFor, waitForState } from './helpers.ts';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function startRunnerProcess(ws: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/run-ts.mjs', 'test/runner/fixtures/runner-process.ts', ws], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`runner process exited ${code}: ${err}`)));
  });
  return { child, url };
}

/** Running, not a zombie (this container's PID 1 may never reap orphans). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

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

  a.child.kill('SIGKILL');
  await new Promise((r) => a.child.once('exit', r));
  const b = await startRunnerProcess(ws);
  expect(alive(orphan)).toBe(false); // the new runner ended the old worker before restarting the job
  const lastBefore = Math.max(...(await listed(b)).filter((s) => s <= 120));
  await waitFor('progress after the first restart', async () => (await listed(b)).some((s) => s >= lastBefore + 20));

  b.child.kill('SIGTERM');
  await new Promise((r) => b.child.once('exit', r));
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
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
});

async function eventsOf(r: { url: string }, id: string): Promise<TelemetryEvent[]> {
  const total = (await call(r, 'GET', `/v1/jobs/${id}`)).json.events as number;
  return events((await readSse(`${r.url}/v1/events?jobs=${id}`, { stop: (_m, all) => all.length >= total })).messages);
}
