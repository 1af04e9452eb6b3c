/**
 * A checkpoint's files, wherever the job ran, and their download as one Hugging Face folder
 * (a .tar of step-N/config.json, model.safetensors, tokenizer files …) that `tar xf` unpacks into a
 * folder transformers and vLLM load (tar.ts).
 */
import type { DistillSession } from '../../core/session.ts';
import { LocalSession } from '../sessions/local-session.ts';
import { RunnerSession } from '../../runner/client.ts';

export { tarFolder } from './tar.ts';

/** What engine/model/save.ts writes: full weights or a PEFT adapter, plus the run manifest. */
const LOCAL_CHECKPOINT_FILES = ['config.json', 'model.safetensors', 'adapter_config.json', 'adapter_model.safetensors', 'run_manifest.json'];
/** Tokenizer files copied from the student folder so the download is a complete HF model folder. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

/** Fetch a checkpoint's files from the session that trained it. */
export async function readCheckpoint(session: DistillSession, job: string, step: number): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (session instanceof LocalSession) {
    for (const name of LOCAL_CHECKPOINT_FILES) {
      const bytes = await session.api.checkpointFile(job, step, name);
      if (bytes) out.set(name, bytes);
    }
  } else if (session instanceof RunnerSession) {
    const manifest = await session.checkpointFiles(job, step);
    for (const f of manifest.files) out.set(f.name, await session.downloadCheckpointFile(job, step, f.name));
  } else {
    throw new Error('this session cannot read checkpoint files');
  }
  if (out.size === 0) throw new Error(`checkpoint step ${step} of job ${job} has no files (the tab keeps checkpoints only until it is reloaded)`);
  return out;
}

/** Add the student's tokenizer files (served beside the app) when the checkpoint lacks them. */
export async function withTokenizer(files: Map<string, Uint8Array>, studentPath: string): Promise<Map<string, Uint8Array>> {
  const out = new Map(files);
  for (const name of TOKENIZER_FILES) {
    if (out.has(name)) continue;
    const res = await fetch(new URL(`${studentPath.replace(/\/$/, '')}/${name}`, document.baseURI));
    if (res.ok) out.set(name, new Uint8Array(await res.arrayBuffer()));
  }
  return out;
}

/** Let the browser save a blob under `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
