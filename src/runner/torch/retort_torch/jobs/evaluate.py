"""The eval recipe: answer accuracy of a local model on problems with reference answers.

Prompts come tokenized from the runner (data/prompts.jsonl, PromptRow with "answer"); each problem
gets `n` samples. pass@1 over n samples = mean over problems of (correct samples / n), reported as
both `accuracy` and `pass_at_1`; with n = 1 and temperature 0 it is greedy exact-match accuracy.
Answers are judged by answers.py (boxed value after </think>). The result — one `eval` event at
step 0, stage 0, and result.json with every problem's outcome — records the generation settings.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import torch

from .. import protocol as P
from ..answers import check_answer
from ..control import Control
from ..data import DataError
from ..events import Emitter
from ..spec import EvalSpec, ModelRef
from ..tokenizer import TokenizerError, eos_ids, load_detokenizer, tokenizer_size
from .common import compute_dtype, load_frozen, resolve
from .sampling import Generated, sample_local
from .teacher_generate import _prompt_text, load_prompts

SAMPLE_EVENTS = 3


def run(spec: EvalSpec, job_dir: str, out: Emitter, control: Control) -> str:
    folder = resolve(spec.model.path)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    detok = load_detokenizer(folder)
    if detok is None:
        raise TokenizerError(f"{folder}: no tokenizer.json; eval needs it to read the model's answers")
    out.log(f"loading model {spec.model.path}")
    model = load_frozen(ModelRef(folder, spec.model.dtype), device)
    vocab = tokenizer_size(folder, model.config.vocab_size)
    prompts = load_prompts(os.path.join(job_dir, P.PROMPTS_FILE), f"{P.PROMPTS_FILE} (tokenized from {spec.dataset})", True, vocab)
    count = len(prompts) if spec.limit is None else min(spec.limit, len(prompts))
    missing = [prompts.lines[i] for i in range(count) if prompts.answers[i] is None]
    if missing:
        raise DataError(f"{spec.dataset}:{missing[0]}: field 'answer': required for eval ({len(missing)} problems lack it)")
    s = spec.sampling
    total = count * s.samples_per_prompt
    done = [0]

    def on_batch(batch: List[Generated]) -> bool:
        done[0] += len(batch)
        out.progress(done[0], total, "samples")
        return control.stop_requested

    gens = sample_local(model, prompts.ids[:count], s.samples_per_prompt, s.temperature, s.top_p, s.top_k,
                        s.max_new_tokens, eos_ids(folder), s.seed, device, compute_dtype(device), on_batch=on_batch)
    per_problem: Dict[int, List[Dict[str, Any]]] = {}
    for i, g in enumerate(gens):
        text = detok.decode(g.ids)
        check = check_answer(text, prompts.answers[g.prompt] or "")
        per_problem.setdefault(g.prompt, []).append({"sample": g.sample, "output": text, "extracted": check.extracted,
                                                     "correct": check.correct, "reason": check.reason, "tokens": len(g.ids),
                                                     "finish": g.finish})
        if i < SAMPLE_EVENTS:
            prompt = _prompt_text(prompts.records[g.prompt], detok.decode(prompts.ids[g.prompt]))
            out.emit(P.sample_event(i, prompt, text, "model", check.correct))
    scores = [sum(r["correct"] for r in rs) / len(rs) for _, rs in sorted(per_problem.items())]
    accuracy = sum(scores) / len(scores) if scores else 0.0
    samples = [r for rs in per_problem.values() for r in rs]
    settings = {"temperature": s.temperature, "top_p": s.top_p, "max_new_tokens": float(s.max_new_tokens),
                "n": float(s.samples_per_prompt), "seed": float(s.seed)}
    metrics = {"accuracy": accuracy, "pass_at_1": accuracy, "problems": float(len(scores)),
               "correct": float(sum(r["correct"] for r in samples)), "samples": float(len(samples)),
               "no_answer": float(sum(r["reason"] == "no-answer" for r in samples)), **settings}
    out.emit(P.eval_event(0, 0, metrics))
    result = {"model": spec.model.path, "dataset": spec.dataset, "metrics": metrics, "sampling": settings,
              "stopped": control.stop_requested,
              "problems": [{"line": prompts.lines[p], "answer": prompts.answers[p], "score": sum(r["correct"] for r in rs) / len(rs),
                            "samples": rs} for p, rs in sorted(per_problem.items())]}
    with open(os.path.join(job_dir, P.RESULT_FILE), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
    out.log(f"eval: accuracy {accuracy:.4f} (pass@1 over n={s.samples_per_prompt}) on {len(scores)} problems")
    return "stopped" if control.stop_requested else "finished"
