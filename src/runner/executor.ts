/**
 * How a job's worker process is started: which Python, which GPUs, one process (`local`) or one per
 * GPU (`torchrun`, i.e. `python -m torch.distributed.run`, the same program under the interpreter
 * we already checked). Beyond one node, give the job folder and this command line to your scheduler.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobKind } from '../core/schema/job-spec.ts';
import type { Parallel } from './api.ts';

/** src/runner/torch, where the retort_torch package lives. */
export const TORCH_PACKAGE_DIR = fileURLToPath(new URL('./torch', import.meta.url));

/**
 * Export jobs are TypeScript (src/onnx): their worker is src/cli/export-worker.ts, run by this Node
 * through the repo's TypeScript loader. The runner starts it by path and never imports it.
 */
export const EXPORT_WORKER = [
  fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url)),
  fileURLToPath(new URL('../cli/export-worker.ts', import.meta.url)),
];

export interface GpuInfo {
  index: number;
  name: string;
  memoryBytes: number;
}

export interface ExecutorConfig {
  python: string;
  /** Folders put first on PYTHONPATH (the torch package; tests add their fake workers). */
  pythonPath: string[];
  /** The module run with `-m` for jobs. */
  workerModule: string;
  /** GPUs of this machine the runner may use; [] = CPU only. */
  gpus: GpuInfo[];
}

export type ExecutorKind = 'local' | 'torchrun';

export interface Launch {
  executor: ExecutorKind;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

let cachedPython: string | null = null;

/** RETORT_PYTHON, else the system /usr/bin/python3 when it imports torch, else `python3`. */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RETORT_PYTHON) return env.RETORT_PYTHON;
  if (cachedPython) return cachedPython;
  cachedPython = existsSync('/usr/bin/python3') && importsTorch('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return cachedPython;
}

function importsTorch(python: string): boolean {
  try {
    execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** GPUs nvidia-smi reports, limited to CUDA_VISIBLE_DEVICES when that is a list of indices. */
export function detectGpus(env: NodeJS.ProcessEnv = process.env): GpuInfo[] {
  let out: string;
  try {
    out = execFileSync('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
  } catch {
    return [];
  }
  const gpus = out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [index, name, mib] = line.split(',').map((s) => s.trim());
      return { index: Number(index), name, memoryBytes: Number(mib) * 2 ** 20 };
    })
    .filter((g) => Number.isInteger(g.index));
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && /^\s*\d+(\s*,\s*\d+)*\s*$/.test(visible)) {
    const allowed = new Set(visible.split(',').map((s) => Number(s.trim())));
    return gpus.filter((g) => allowed.has(g.index));
  }
  return gpus;
}

/**
 * The command line for one job. `gpus` are the job's GPU indices ([] = CPU). Distill jobs on more
 * than one GPU run under torchrun (`--fsdp` when asked), except `teacher-gpu`; other torch jobs (and
 * that one) run one process that sees all of the job's GPUs;
 * export jobs run the export worker under Node.
 */
export function workerLaunch(
  cfg: ExecutorConfig,
  job: { dir: string; kind: JobKind; gpus: number[]; parallel?: Parallel; resume?: string },
  workspace: string,
): Launch {
  const workerArgs = ['--job', job.dir, ...(job.resume ? ['--resume', job.resume] : [])];
  const env: Record<string, string> = {
    PYTHONPATH: [...cfg.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
    PYTHONUNBUFFERED: '1',
    PYTHONIOENCODING: 'utf-8',
  };
  if (job.kind === 'export') return { executor: 'local', command: process.execPath, args: [...EXPORT_WORKER, '--job', job.dir], env, cwd: workspace };
  if (job.gpus.length > 0) env.CUDA_VISIBLE_DEVICES = job.gpus.join(',');
  if (job.kind === 'distill' && job.gpus.length > 1 && job.parallel !== 'teacher-gpu') {
    return {
      executor: 'torchrun',
      command: cfg.python,
      args: ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(job.gpus.length), '-m', cfg.workerModule, ...workerArgs, ...(job.parallel === 'fsdp' ? ['--fsdp'] : [])],
      env,
      cwd: workspace,
    };
  }
  return { executor: 'local', command: cfg.python, args: ['-m', cfg.workerModule, ...workerArgs], env, cwd: workspace };
}
