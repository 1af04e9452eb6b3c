/**
 * Moving checkpoints between the tab and a runner: a tab-trained student goes up into the runner's
 * workspace (PUT /v1/files), a runner checkpoint comes down into IndexedDB, from where the local
 * session loads it as the student. Runner jobs also become RunRecords so the Runs view compares
 * them with the tab's runs.
 */
import type { LocalSession } from '../sessions/local-session.ts';
import type { RunnerSession } from '../../runner/client.ts';
import type { JobRecord } from '../../runner/api.ts';
import { isTerminalState } from '../../core/telemetry.ts';
import { readCheckpoint, withTokenizer } from './checkpoint-files.ts';
import { foldEvent, newRun, type RunRecord } from './run-model.ts';
import { loadCheckpointFiles, saveCheckpointFiles, saveRun } from './run-store.ts';

/** A finished runner job as a run (its whole event history replayed); running jobs are left to the Train view. */
export async function runnerRun(session: RunnerSession, job: JobRecord, origin: string): Promise<RunRecord> {
  const run = newRun(job.id, 'runner', job.spec, origin);
  run.id = `runner:${origin}:${job.id}`; // stable, so a job is stored once however often it is listed
  run.created = job.created;
  run.state = job.state;
  if (isTerminalState(job.state)) for await (const e of session.events(job.id, -1)) foldEvent(run, e);
  run.checkpoints = await session.checkpoints(job.id);
  return run;
}

/** Upload a tab checkpoint (with tokenizer files) to `models/<job>-step-N/` on the runner; returns that folder. */
export async function sendToRunner(session: RunnerSession, run: RunRecord, step: number): Promise<string> {
  let files = await loadCheckpointFiles(run.id, step);
  if (files.size === 0) throw new Error(`checkpoint step ${step} of ${run.job} was not kept in this browser`);
  if (run.spec.kind === 'distill') files = await withTokenizer(files, run.spec.student.path);
  const folder = `models/${run.job}-step-${step}`;
  for (const [name, bytes] of files) await session.upload(`${folder}/${name}`, bytes);
  return folder;
}

/** Download a runner checkpoint into IndexedDB (kept with the run, so the tab can load it later). */
export async function fetchFromRunner(session: RunnerSession, run: RunRecord, step: number): Promise<number> {
  const files = await readCheckpoint(session, run.job, step);
  await saveCheckpointFiles(run.id, step, files);
  await saveRun(run);
  return files.size;
}

/** Load a stored checkpoint into this tab's engine as the student. */
export async function loadAsStudent(session: LocalSession, run: RunRecord, step: number): Promise<void> {
  let files = await loadCheckpointFiles(run.id, step);
  if (files.size === 0) throw new Error(`checkpoint step ${step} of ${run.job} is not stored in this browser: fetch it first`);
  // Runner checkpoints of the demo carry no tokenizer when the worker did not copy it: use the demo's.
  files = await withTokenizer(files, 'models/demo-student');
  const name = `${run.job}-step-${step}`;
  await session.loadFiles('student', [...files].map(([file, bytes]) => new File([bytes as Uint8Array<ArrayBuffer>], file, { type: 'application/octet-stream' })).map((f) => withPath(f, `${name}/${f.name}`)));
}

/** A File whose webkitRelativePath names it inside a folder (what a directory picker gives). */
function withPath(f: File, path: string): File {
  Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
}
