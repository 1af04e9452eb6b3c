/**
 * A job's checkpoints as they are on disk: complete `checkpoints/step-N/` folders (temporary
 * `.tmp-step-N/` ones are half-written and never listed), with their manifest when present.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_MANIFEST_FILE, parseRunManifest, type RunManifest } from '../core/run-manifest.ts';
import type { CheckpointInfo } from '../core/session.ts';
import type { CheckpointFiles } from './api.ts';
import { CHECKPOINTS_DIR, checkpointStep } from './protocol.ts';

/** Complete checkpoints of the job in `jobDir`, oldest first (a manifest's `stage` is the stage's index). */
export async function listCheckpoints(jobDir: string): Promise<CheckpointInfo[]> {
  const root = join(jobDir, CHECKPOINTS_DIR);
  const names = await readdir(root).catch(() => [] as string[]);
  const out: CheckpointInfo[] = [];
  for (const name of names) {
    const step = checkpointStep(name);
    if (step === null) continue;
    const dir = join(root, name);
    const files = await filesOf(dir);
    if (!files) continue;
    const { manifest } = await readManifest(dir);
    const info: CheckpointInfo = {
      step,
      path: dir,
      bytes: files.reduce((s, f) => s + f.bytes, 0),
      time: manifest?.time ?? (await stat(dir)).mtimeMs,
    };
    if (manifest) info.stage = manifest.stage;
    out.push(info);
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint folder, for `--resume`. */
export async function latestCheckpoint(jobDir: string): Promise<CheckpointInfo | undefined> {
  return (await listCheckpoints(jobDir)).at(-1);
}

/** One checkpoint's files (names and sizes) and manifest; undefined when there is no such step. */
export async function checkpointFiles(jobDir: string, step: number): Promise<CheckpointFiles | undefined> {
  const dir = join(jobDir, CHECKPOINTS_DIR, `step-${step}`);
  const files = await filesOf(dir);
  if (!files) return undefined;
  return { step, path: dir, files, ...(await readManifest(dir)) };
}

async function filesOf(dir: string): Promise<{ name: string; bytes: number }[] | undefined> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const files = [];
  for (const e of entries) if (e.isFile()) files.push({ name: e.name, bytes: (await stat(join(dir, e.name))).size });
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** The folder's run manifest; none when there is no file, the reason when it does not validate. */
async function readManifest(dir: string): Promise<{ manifest?: RunManifest; manifestError?: string }> {
  const path = join(dir, RUN_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  try {
    return { manifest: parseRunManifest(text, path) };
  } catch (e) {
    return { manifestError: e instanceof Error ? e.message : String(e) };
  }
}
