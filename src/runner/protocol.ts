/**
 * The runner ↔ torch worker wire format, in one file. `src/runner/torch/retort_torch/protocol.py`
 * mirrors it; change both together.
 *
 * ── Command lines ───────────────────────────────────────────────────────────────────────────────
 * cwd = the runner's workspace (relative paths in a spec resolve against it),
 * PYTHONPATH = src/runner/torch, CUDA_VISIBLE_DEVICES = the job's GPUs (unset on CPU machines):
 *     PY -m retort_torch.worker --job JOB_DIR [--resume CHECKPOINT_DIR]
 *     torchrun --standalone --nproc_per_node N -m retort_torch.worker --job JOB_DIR [--resume …]
 *     PY -m retort_torch.serve                        (long-lived; models arrive as `load` requests)
 * PY = $RETORT_PYTHON, else /usr/bin/python3 when it imports torch, else python3. torchrun is used for
 * distill jobs given more than one GPU; beyond one node, hand the job folder and this command line to
 * your cluster's scheduler (Slurm, Kubernetes) — the runner does not schedule across machines.
 *
 * ── Job folder: WORKSPACE/jobs/<id>/ ────────────────────────────────────────────────────────────
 *     spec.json                the JobSpec as the runner validated it (defaults filled in)
 *     data/stage-<i>.jsonl     distill: stage i's rows, tokenized by src/core/dataset.ts (TokenRow)
 *     data/eval.jsonl          distill: `eval.dataset` rows (TokenRow)
 *     data/prompts.jsonl       eval and local teacher-generate: prompts (PromptRow)
 *     checkpoints/step-N/      HF or PEFT layout + trainer_state.pt + run_manifest.json (resolved
 *                              spec, seed, data hashes, code version, step, stage, time: one format
 *                              with the engine's, src/core/run-manifest.ts); written into
 *                              checkpoints/.tmp-step-N/ and renamed, so step-N is always complete
 *     result.json              the job's final metrics (eval, teacher-generate report)
 * The runner writes spec.json and data/ before it starts the worker; the worker writes the rest.
 * When a job is restarted (runner restart, crash recovery) it gets `--resume` = the newest
 * complete checkpoints/step-N/.
 *
 * ── stdout: events ──────────────────────────────────────────────────────────────────────────────
 * One JSON object per line: a TelemetryEvent (src/core/telemetry.ts) WITHOUT job/seq/time — the
 * runner stamps those. `stage` is the stage's index in spec.stages, as in the engine's events (the
 * manifest says it the same way, with `stage_name` beside it for people). Nothing else goes to stdout; logs and tracebacks go to stderr, of which the
 * runner keeps the last 64 KiB and quotes the tail when the worker dies. A line that does not parse
 * or validate is kept as a `log` event (level warn) naming the problem. Under torchrun only rank 0
 * writes events.
 *
 * ── stdin: control ──────────────────────────────────────────────────────────────────────────────
 * Lines {"control": "pause" | "resume" | "stop"}. Pause is cooperative: the worker finishes the
 * current optimizer step, emits `state: paused` and waits; resume emits `state: running`. Stop (or
 * SIGTERM, which means the same) writes a checkpoint, emits its `checkpoint` event, then
 * `state: stopped`, and exits 0. The runner sends SIGKILL if the worker has not exited
 * `stopGraceMs` after SIGTERM. (Chosen over SIGSTOP/SIGCONT so a paused job holds a consistent
 * step boundary and torchrun ranks pause together.)
 *
 * ── Exit codes ──────────────────────────────────────────────────────────────────────────────────
 * 0 finished or stopped; 1 failed (an `error` event with recoverable false came first); 2 the spec
 * or a data file is invalid (an `error` event names the field or file:line). Any other exit, or a
 * signal, is a crash: the runner fails the job with the stderr tail.
 *
 * ── Serve worker (retort_torch.serve): request lines on stdin, response lines on stdout ─────────
 * Matched by `id`; requests may overlap. See ServeRequest / ServeResponse below.
 */
import type { ModelInfo, ProbeResult, JobAction } from '../core/session.ts';
import type { WeightDtype } from '../core/schema/model-ref.ts';
import { type TelemetryEvent, type TelemetryEventBody, parseTelemetryEvent, stampEvent } from '../core/telemetry.ts';

// ── command line and layout ─────────────────────────────────────────────────────────────────────

export const WORKER_MODULE = 'retort_torch.worker';
export const SERVE_MODULE = 'retort_torch.serve';

export const SPEC_FILE = 'spec.json';
export const DATA_DIR = 'data';
export const CHECKPOINTS_DIR = 'checkpoints';
export const RESULT_FILE = 'result.json';
export const TRAINER_STATE_FILE = 'trainer_state.pt';
export const STEP_PREFIX = 'step-';
export const TMP_PREFIX = '.tmp-step-';

export const stageDataFile = (stage: number): string => `${DATA_DIR}/stage-${stage}.jsonl`;
export const EVAL_DATA_FILE = `${DATA_DIR}/eval.jsonl`;
export const PROMPTS_FILE = `${DATA_DIR}/prompts.jsonl`;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

/** `step-N` → N; anything else (temporary folders included) → null. */
export function checkpointStep(folderName: string): number | null {
  const m = /^step-(\d+)$/.exec(folderName);
  return m ? Number(m[1]) : null;
}

// ── data/ rows (what the runner writes) ─────────────────────────────────────────────────────────

/** One training row: an Example of src/core/dataset.ts in JSON. */
export interface TokenRow {
  ids: number[]; // [T]
  labels: number[]; // [T] token trained on after position t, −1 = not trained
  doc_starts?: number[]; // packing: where documents start (positions restart)
  teacher_topk?: { ids: number[]; logprobs: number[] }[]; // one per label ≠ −1, in order, T = 1
  difficulty?: number;
  line?: number; // source line in the user's JSONL
  negative?: boolean; // data.negatives: a wrong trace, trained by unlikelihood (the worker's negatives.py)
  teacher_ids?: number[]; // loss.uld with another teacher tokenizer: the same record in the teacher's ids
  teacher_labels?: number[]; // and its labels (−1 = not trained)
}

/** One prompt for generation (eval, teacher-generate). */
export interface PromptRow {
  ids: number[]; // chat template and generation prompt applied
  answer?: string;
  difficulty?: number;
  line?: number;
  messages?: unknown;
  prompt?: string;
}

// ── stdin control ───────────────────────────────────────────────────────────────────────────────

export interface ControlLine {
  control: JobAction;
}

export function controlLine(action: JobAction): string {
  return JSON.stringify({ control: action } satisfies ControlLine) + '\n';
}

// ── stdout events ───────────────────────────────────────────────────────────────────────────────

/**
 * A worker's stdout line → a stamped, validated event. A bad line becomes a `log` event saying what
 * was wrong, so nothing is silently lost.
 */
export function parseWorkerLine(line: string, stamp: { job: string; seq: number; time: number }): TelemetryEvent {
  const { job, seq, time } = stamp;
  const bad = (why: string): TelemetryEvent =>
    stampEvent({ type: 'log', level: 'warn', message: `worker stdout: ${why}: ${line.length > 500 ? line.slice(0, 500) + '…' : line}` }, job, seq, time);
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return bad('not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('not a JSON object');
  try {
    return parseTelemetryEvent({ ...(raw as Record<string, unknown>), job, seq, time }, 'worker event');
  } catch (e) {
    return bad((e as Error).message.replaceAll('\n', '; '));
  }
}

export type WorkerEvent = TelemetryEventBody;

// ── serve worker ────────────────────────────────────────────────────────────────────────────────

/** Sampling as the serve worker takes it (SamplingParams with defaults resolved). */
export interface ServeSampling {
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
  maxNewTokens: number;
  seed?: number;
  stop?: string[];
}

export type ServeRequest =
  | { id: number; op: 'info' }
  | { id: number; op: 'load'; name: string; path: string; dtype?: WeightDtype; adapter?: string }
  | { id: number; op: 'unload'; name: string }
  | { id: number; op: 'generate'; model: string; ids: number[]; sampling: ServeSampling; logprobs?: number }
  | {
      id: number;
      op: 'probe';
      teacher: string;
      student: string;
      ids: number[];
      positions?: number[];
      temperatures: number[];
      topK: number;
    }
  | { id: number; op: 'cancel'; target: number };
export type ServeOp = ServeRequest['op'];

export interface ServeToken {
  id: number;
  text: string;
  logprob?: number;
  top?: { id: number; text: string; logprob: number }[];
}

export type ServeFinish = 'eos' | 'stop' | 'length' | 'cancelled';

export type ServeResponse =
  | { id: number; ok: true; models?: ModelInfo[]; model?: ModelInfo; result?: ProbeResult }
  | { id: number; ok: false; error: string }
  | { id: number; done: false; token: ServeToken }
  | {
      id: number;
      done: true;
      ids: number[];
      text: string;
      finish: ServeFinish;
      stats?: { promptTokens?: number; newTokens?: number; tokensPerS?: number };
    };

/** A serve stdout line → a response, or null when it is not one (the line is then logged). */
export function parseServeLine(line: string): ServeResponse | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || typeof (raw as { id?: unknown }).id !== 'number') return null;
  const r = raw as Record<string, unknown>;
  if (r.ok === true || (r.ok === false && typeof r.error === 'string')) return raw as ServeResponse;
  if (r.done === false && typeof r.token === 'object' && r.token !== null) return raw as ServeResponse;
  if (r.done === true && Array.isArray(r.ids) && typeof r.text === 'string') return raw as ServeResponse;
  return null;
}
