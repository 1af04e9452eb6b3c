"""The runner <-> torch worker wire format, mirrored from `src/runner/protocol.ts` (the Node side).
Change both files together.

Command lines (cwd = the runner's workspace, relative spec paths resolve against it;
PYTHONPATH = src/runner/torch; CUDA_VISIBLE_DEVICES = the job's GPUs):
    PY -m retort_torch.worker --job JOB_DIR [--resume CHECKPOINT_DIR] [--fsdp]
    torchrun --standalone --nproc_per_node N -m retort_torch.worker --job JOB_DIR [...]   (distill)
    PY -m retort_torch.serve [--model NAME=DIR ...]      (long-lived; models usually arrive as `load`)
Beyond one node, hand the job folder and this command line to the cluster's scheduler.

Job folder (WORKSPACE/jobs/<id>/):
    spec.json                   the JobSpec (src/core/schema), as the runner validated it
    data/                       written by the runner BEFORE it starts the worker: datasets tokenized
                                by the shared TypeScript code (src/runner/prepare-data.ts):
      stage-<i>.jsonl             distill: stage i's training rows            (TokenRow, below)
      eval.jsonl                  distill: `eval.dataset` rows                 (TokenRow)
      prompts.jsonl               teacher-generate (local source) and eval:    (PromptRow, below)
    checkpoints/step-N/         HF layout (config.json, model.safetensors, tokenizer files,
                                generation_config.json) or PEFT layout (adapter_config.json,
                                adapter_model.safetensors); plus trainer_state.pt and run_manifest.json
                                (run_manifest.py: one format with the engine's)
    checkpoints/.tmp-step-N/    where step-N is written before one os.rename (atomic)
    result.json                 the job's final metrics (eval, teacher-generate report)
A restarted job gets `--resume` = the newest complete checkpoints/step-N/.

TokenRow (one JSON object per line; an `Example` of dataset.ts):
    {"ids": [int × T],           token ids
     "labels": [int × T],         labels[t] = the token trained on after position t, −1 = not trained
     "doc_starts": [int],         optional (packing): offsets where documents start; positions restart
                                  and each document attends only to itself
     "teacher_topk": [{"ids": [int × k], "logprobs": [float × k]}, …],
                                  optional (offline top-k): ONE ENTRY PER LABEL ≠ −1, in order, the
                                  teacher's top-k at T = 1 for that label (same rule as the raw JSONL)
     "difficulty": float,         optional, for curriculum 'by-difficulty'
     "negative": bool,            optional (data.negatives): a wrong trace, trained by unlikelihood
     "line": int}                 optional: source line in the user's JSONL, for error messages
PromptRow:
    {"ids": [int],                the prompt, chat template and generation prompt applied
     "answer": str,               optional reference answer (answer check, eval); else the boxed value
                                  of a trailing assistant message in "messages"
     "difficulty": float,         optional
     "line": int,                 optional source line
     "messages" | "prompt": …}    the original record (a trailing assistant turn is dropped when the
                                  worker writes traces); required by local teacher-generate

stdout: one JSON object per line, a TelemetryEvent (src/core/telemetry.ts) WITHOUT job/seq/time,
which the runner stamps. Nothing else is printed on stdout; logs and tracebacks go to stderr. Only
rank 0 of a torchrun job writes events.

Steps: a `step` event's `step` is the 0-based index of the optimizer step over the whole job and
its `stage` the index into spec.stages (telemetry.ts); `eval` and `sample` carry the index of the
step just taken. A checkpoint's `step` (and its folder step-N) counts the steps completed, which is
the index of the step a resumed run takes next. Metrics: step {soft, hard, temperature, lr, grad_norm,
tokens_per_s, tokens (job total), loss_tokens (this step), step_ms, hidden?, attention?}; distill eval
{eval_loss, soft, hard, temperature}; eval job {accuracy, pass_at_1, problems, samples, correct,
no_answer, temperature, top_p, max_new_tokens, n, seed}; teacher-generate's final eval event {generated, kept,
dropped_<reason>, reward (teacher accuracy when answers were checked)}.

stdin: control lines {"control": "pause" | "resume" | "stop"}. SIGTERM means stop. On stop the
worker writes a checkpoint, emits its `checkpoint` event, then `state: stopped`, and exits 0.
Pause is cooperative: the worker finishes the current optimizer step, emits `state: paused` and
waits; resume emits `state: running`. teacher-generate and eval stop by writing what they have.

Exit codes: 0 finished or stopped; 1 failed (an `error` event with recoverable false came first);
2 the spec or a data file is invalid (an `error` event names the field or file:line).

Serve worker (serve.py; ServeRequest / ServeResponse in protocol.ts): request lines on stdin,
response lines on stdout, matched by the numeric `id`; requests may overlap (a generation streams
while other requests are answered between its tokens).
    {"id", "op": "info"}                                   -> {"id", "ok": true, "models": [ModelInfo]}
    {"id", "op": "load", "name", "path", "dtype"?, "adapter"?}
                                                           -> {"id", "ok": true, "model": ModelInfo}
    {"id", "op": "unload", "name"}                         -> {"id", "ok": true}
    {"id", "op": "generate", "model", "ids", "sampling": {temperature, topP, topK, repetitionPenalty,
         maxNewTokens, seed?, stop?}, "logprobs"?: k}      -> {"id", "done": false, "token": {"id", "text",
                                                               "logprob"?, "top"?: [{"id", "text", "logprob"}]}} × n
                                                              then {"id", "done": true, "ids", "text",
                                                               "finish": "eos"|"stop"|"length"|"cancelled",
                                                               "stats": {promptTokens, newTokens, tokensPerS}}
    {"id", "op": "probe", "teacher", "student", "ids", "positions"?, "temperatures", "topK"}
                                                           -> {"id", "ok": true, "result": ProbeResult}
    {"id", "op": "cancel", "target"}                       -> the target's stream ends with finish "cancelled"
    any failure                                            -> {"id", "ok": false, "error": message}
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

# ---- command line and layout --------------------------------------------------------------------

SPEC_FILE = "spec.json"
DATA_DIR = "data"
CHECKPOINTS_DIR = "checkpoints"
RESULT_FILE = "result.json"
TRAINER_STATE = "trainer_state.pt"
STEP_PREFIX = "step-"
TMP_PREFIX = ".tmp-step-"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def stage_data_file(stage_index: int) -> str:
    return f"{DATA_DIR}/stage-{stage_index}.jsonl"


EVAL_DATA_FILE = f"{DATA_DIR}/eval.jsonl"
WORKER_MODULE = "retort_torch.worker"
SERVE_MODULE = "retort_torch.serve"
PROMPTS_FILE = f"{DATA_DIR}/prompts.jsonl"

# ---- serve worker --------------------------------------------------------------------------------

SERVE_OPS = ("info", "load", "unload", "generate", "probe", "cancel")
FINISH_REASONS = ("eos", "stop", "length", "cancelled")

# ---- stdin control --------------------------------------------------------------------------------

CONTROLS = ("pause", "resume", "stop")

# ---- stdout events (TelemetryEvent minus job/seq/time) --------------------------------------------

EVENT_TYPES = ("step", "eval", "sample", "checkpoint", "log", "error", "state", "progress")
STATES = ("queued", "running", "paused", "stopped", "finished", "failed")
LOG_LEVELS = ("debug", "info", "warn", "error")
# Conventional metric names (METRICS in telemetry.ts); the worker adds loss_tokens (completion tokens
# in this step), pass_at_1 and the generation settings of eval results.
METRICS = ("soft", "hard", "kl", "hidden", "attention", "temperature", "lr", "grad_norm", "tokens_per_s", "tokens",
           "reward", "accuracy", "eval_loss", "step_ms", "reward_task", "reward_sim", "kl_teacher", "adv_mean", "adv_std",
           "clip_frac", "policy_loss", "value_loss", "unlikelihood")

Event = Dict[str, Any]


def step_event(step: int, stage: int, loss: float, metrics: Dict[str, float]) -> Event:
    return {"type": "step", "step": step, "stage": stage, "loss": loss, "metrics": metrics}


def eval_event(step: int, stage: int, metrics: Dict[str, float]) -> Event:
    return {"type": "eval", "step": step, "stage": stage, "metrics": metrics}


def sample_event(step: int, prompt: str, output: str, source: str, correct: Optional[bool] = None) -> Event:
    e: Event = {"type": "sample", "step": step, "prompt": prompt, "output": output, "source": source}
    if correct is not None:
        e["correct"] = correct
    return e


def checkpoint_event(step: int, path: str, size: Optional[int] = None) -> Event:
    e: Event = {"type": "checkpoint", "step": step, "path": path}
    if size is not None:
        e["bytes"] = size
    return e


def log_event(level: str, message: str) -> Event:
    return {"type": "log", "level": level, "message": message}


def error_event(message: str, recoverable: bool, where: Optional[str] = None) -> Event:
    e: Event = {"type": "error", "message": message, "recoverable": recoverable}
    if where is not None:
        e["where"] = where
    return e


def state_event(state: str) -> Event:
    return {"type": "state", "state": state}


def progress_event(done: int, total: int, what: str) -> Event:
    return {"type": "progress", "done": done, "total": total, "what": what}


def check_event(e: Event) -> List[str]:
    """Problems with an event's shape (empty when well-formed); the tests hold every line to it."""
    kind = e.get("type")
    need = {
        "step": {"step": int, "stage": int, "loss": float, "metrics": dict},
        "eval": {"step": int, "stage": int, "metrics": dict},
        "sample": {"step": int, "prompt": str, "output": str, "source": str},
        "checkpoint": {"step": int, "path": str},
        "log": {"level": str, "message": str},
        "error": {"message": str, "recoverable": bool},
        "state": {"state": str},
        "progress": {"done": float, "total": float, "what": str},
    }.get(kind)  # type: ignore[arg-type]
    if need is None:
        return [f"type {kind!r} is not one of {', '.join(EVENT_TYPES)}"]
    problems = []
    for key, typ in need.items():
        value = e.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if typ is float else \
            isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if not ok:
            problems.append(f"{kind}.{key}: expected {typ.__name__}, got {value!r}")
    for key in ("job", "seq", "time"):
        if key in e:
            problems.append(f"{kind}.{key}: stamped by the runner, must not come from the worker")
    if kind == "step" or kind == "eval":
        for name, v in e.get("metrics", {}).items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                problems.append(f"{kind}.metrics.{name}: expected a number, got {v!r}")
    if kind == "state" and e.get("state") not in STATES:
        problems.append(f"state.state: {e.get('state')!r} is not one of {', '.join(STATES)}")
    if kind == "log" and e.get("level") not in LOG_LEVELS:
        problems.append(f"log.level: {e.get('level')!r} is not one of {', '.join(LOG_LEVELS)}")
    return problems
