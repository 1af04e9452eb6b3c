"""The teacher-generate recipe: prompts -> teacher samples -> filters (traces.py) -> a training JSONL.

Source 'local': the runner's tokenized prompts (protocol.py PromptRow, data/prompts.jsonl) through
the KV-cache sampler, texts decoded with the model's tokenizer.json; with `logprobs` the teacher's
top-k at T=1 per generated token (teacher-forced), plus one for the end token the dataset appends
when a sample was cut at maxNewTokens. Source 'openai': the raw prompts JSONL ({messages} or
{prompt}) sent to /chat/completions, `concurrency` requests in flight.

Output (spec.output, written whole then renamed): one line per kept sample, chat records
{"messages": [..., {"role": "assistant", "content": text}]} or {"prompt", "completion"}, with
"answer" and "difficulty" copied when known, "teacher_topk" when asked, and "meta" {prompt_line,
sample, tokens, finish, correct}. The report (the same JSON in `<output>.report.json` and the job's
result.json): counts per drop reason, teacher accuracy, the sampling settings.
"""
from __future__ import annotations

import json
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Set, Tuple

import torch

from .. import protocol as P
from ..control import Control
from ..data import DataError
from ..events import Emitter
from ..openai_client import ChatClient, EndpointError
from ..spec import ModelRef, TeacherGenerateSpec
from ..tokenizer import TokenizerError, eos_ids, load_detokenizer, tokenizer_size
from ..traces import Sample, filter_samples, order, pass_rates
from .common import compute_dtype, load_frozen, resolve
from .sampling import Generated, sample_local, teacher_topk

SAMPLE_EVENTS = 3  # the first few samples are shown in the outputs view


class PromptSet:
    """What every source needs per prompt: the record to copy, the reference answer, difficulty."""

    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []  # {"messages"} or {"prompt"}
        self.ids: List[List[int]] = []  # local only
        self.answers: List[Optional[str]] = []
        self.difficulty: List[Optional[float]] = []
        self.lines: List[int] = []

    def __len__(self) -> int:
        return len(self.records)


def _record(obj: Dict[str, Any], where: str, required: bool = True) -> Dict[str, Any]:
    if isinstance(obj.get("messages"), list) and obj["messages"]:
        for i, m in enumerate(obj["messages"]):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise DataError(f"{where}: field 'messages[{i}]': expected {{\"role\", \"content\"}} strings")
        if not prompt_messages({"messages": obj["messages"]}):
            raise DataError(f"{where}: field 'messages': no message before the assistant turn")
        return {"messages": obj["messages"]}
    if isinstance(obj.get("prompt"), str):
        return {"prompt": obj["prompt"]}
    if not required:
        return {}
    raise DataError(f"{where}: expected a \"messages\" array or a \"prompt\" string")


def _answer(obj: Dict[str, Any], where: str) -> Optional[str]:
    """`answer`, else a trailing assistant message (its boxed value is what check_answer compares)."""
    a = obj.get("answer")
    if a is None:
        last = _trailing_assistant(obj)
        return None if last is None else last["content"]
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return str(a)
    if not isinstance(a, str):
        raise DataError(f"{where}: field 'answer': expected a string or number, got {type(a).__name__}")
    return a


def load_prompts(path: str, shown: str, tokenized: bool, vocab: int = 0) -> PromptSet:
    out = PromptSet()
    try:
        f = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        hint = " (the runner tokenizes prompts for local teachers into the job's data/ folder)" if tokenized else ""
        raise DataError(f"{shown}: no such file{hint}") from None
    with f:
        for n, text in enumerate(f, start=1):
            if not text.strip():
                continue
            where = f"{shown}:{n}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{where}: expected a JSON object")
            out.records.append(_record(obj, where, required=not tokenized))
            out.answers.append(_answer(obj, where))
            d = obj.get("difficulty")
            out.difficulty.append(float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None)
            out.lines.append(int(obj.get("line", n)) if tokenized else n)
            if tokenized:
                ids = obj.get("ids")
                if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab for i in ids):
                    raise DataError(f"{where}: field 'ids': expected a non-empty array of token ids in [0, {vocab})")
                out.ids.append(ids)
    if not out.records:
        raise DataError(f"{shown}: no prompts")
    return out


def _trailing_assistant(obj: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    msgs = obj.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant" \
            and isinstance(msgs[-1].get("content"), str):
        return msgs[-1]
    return None


def prompt_messages(record: Dict[str, Any]) -> List[Dict[str, str]]:
    """The conversation up to the turn the teacher writes: a trailing assistant turn is dropped."""
    if "prompt" in record:
        return [{"role": "user", "content": record["prompt"]}]
    msgs = list(record["messages"])
    return msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs


def _prompt_text(record: Dict[str, Any], fallback: str = "") -> str:
    if not record:
        return fallback
    if "prompt" in record:
        return record["prompt"]
    users = [m["content"] for m in prompt_messages(record) if m["role"] == "user"]
    return users[-1] if users else record["messages"][0]["content"]


# ---- sources ------------------------------------------------------------------------------------------

def _generate_local(spec: TeacherGenerateSpec, job_dir: str, out: Emitter, control: Control) -> Tuple[PromptSet, List[Sample]]:
    src = spec.source
    assert src.path is not None
    folder = resolve(src.path)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    detok = load_detokenizer(folder)
    if detok is None:
        raise TokenizerError(f"{folder}: no tokenizer.json; a local teacher needs it to turn samples into text")
    out.log(f"loading teacher {src.path}")
    model = load_frozen(ModelRef(folder, src.dtype), device)
    vocab = tokenizer_size(folder, model.config.vocab_size)
    prompts = load_prompts(os.path.join(job_dir, P.PROMPTS_FILE), f"{P.PROMPTS_FILE} (tokenized from {spec.prompts})", True, vocab)
    for i, rec in enumerate(prompts.records):
        if not rec:
            raise DataError(f"{spec.prompts}:{prompts.lines[i]}: field 'messages': teacher-generate needs the original "
                            "\"messages\" or \"prompt\" in each tokenized prompt row, to write the traces (protocol.py)")
    eos = eos_ids(folder)
    s = spec.sampling
    total = len(prompts) * s.samples_per_prompt
    done = [0]

    def on_batch(batch: List[Generated]) -> bool:
        done[0] += len(batch)
        out.progress(done[0], total, "samples")
        return control.stop_requested

    gens = sample_local(model, prompts.ids, s.samples_per_prompt, s.temperature, s.top_p, s.top_k, s.max_new_tokens, eos,
                        s.seed, device, compute_dtype(device), on_batch=on_batch)
    samples = []
    for g in gens:
        sample = Sample(g.prompt, detok.decode(g.ids), len(g.ids), g.finish, extra={"sample": g.sample})
        if spec.logprobs_top_k:
            extra_end = eos[0] if g.finish == "length" and eos else None
            sample.extra["teacher_topk"] = teacher_topk(model, prompts.ids[g.prompt], g.ids, spec.logprobs_top_k, device,
                                                        vocab, extra_end)
        samples.append(sample)
    return prompts, samples


def _generate_openai(spec: TeacherGenerateSpec, out: Emitter, control: Control) -> Tuple[PromptSet, List[Sample]]:
    src = spec.source
    assert src.base_url is not None and src.model is not None
    prompts = load_prompts(resolve(spec.prompts), spec.prompts, False)
    client = ChatClient(src.base_url, src.model, src.api_key, src.retries)
    s = spec.sampling
    jobs = [(p, k) for p in range(len(prompts)) for k in range(s.samples_per_prompt)]
    results: Dict[Tuple[int, int], Sample] = {}
    warned: Set[str] = set()
    lock = threading.Lock()

    def one(p: int, k: int) -> Sample:
        messages = prompt_messages(prompts.records[p])
        try:
            c = client.complete(messages, s.temperature, s.top_p, s.max_new_tokens, seed=s.seed + p * 1009 + k,
                                top_k=s.top_k, logprobs=spec.logprobs_top_k)
        except EndpointError as e:
            return Sample(p, "", 0, "error", error=str(e), extra={"sample": k})
        sample = Sample(p, c.text, c.tokens if c.tokens is not None else len(c.text.split()), c.finish, extra={"sample": k})
        if spec.logprobs_top_k and c.topk is not None:
            sample.extra["teacher_topk" if c.topk_are_ids else "teacher_topk_tokens"] = c.topk
            if not c.topk_are_ids:
                with lock:
                    if "ids" not in warned:
                        warned.add("ids")
                        out.log("the endpoint returned top-k tokens as strings, not ids: written as teacher_topk_tokens "
                                "(vLLM gives ids with return_tokens_as_token_ids)", "warn")
        return sample

    with ThreadPoolExecutor(max_workers=src.concurrency) as pool:
        pending: Dict[Future, Tuple[int, int]] = {}
        it = iter(jobs)
        exhausted = False
        while True:
            while not exhausted and not control.stop_requested and len(pending) < src.concurrency:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                pending[pool.submit(one, *nxt)] = nxt
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                sample = fut.result()
                results[pending.pop(fut)] = sample
                if sample.error is not None:
                    out.error(sample.error, recoverable=True, where=f"{spec.prompts}:{prompts.lines[sample.prompt]}")
            out.progress(len(results), len(jobs), "samples")
    return prompts, [results[key] for key in sorted(results)]


# ---- the job --------------------------------------------------------------------------------------------

def run(spec: TeacherGenerateSpec, job_dir: str, out: Emitter, control: Control) -> str:
    if spec.source.kind == "local":
        prompts, samples = _generate_local(spec, job_dir, out, control)
    else:
        prompts, samples = _generate_openai(spec, out, control)
    kept, dropped = filter_samples(samples, prompts.answers, spec.filters)
    rates = pass_rates(samples)
    difficulty = {p: d for p, d in enumerate(prompts.difficulty) if d is not None}
    for p, r in rates.items():
        difficulty.setdefault(p, 1.0 - r)
    if spec.curriculum == "by-difficulty" and len(difficulty) < len(prompts):
        out.log(f"curriculum by-difficulty: {len(prompts) - len(difficulty)} prompts have no difficulty and no answer check; placed in the middle", "warn")
    ordered = order(kept, spec.curriculum, difficulty)

    for i, sample in enumerate(samples[:SAMPLE_EVENTS]):
        out.emit(P.sample_event(i, _prompt_text(prompts.records[sample.prompt]), sample.text, "teacher", sample.correct))
    path = resolve(spec.output)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        for sample in ordered:
            f.write(json.dumps(_output_record(sample, prompts, difficulty), ensure_ascii=False) + "\n")
    os.replace(tmp, path)

    checked = [s for s in samples if s.correct is not None]
    report = {
        "output": path, "prompts": len(prompts), "generated": len(samples), "kept": len(kept), "dropped": dropped,
        "accuracy": (sum(1 for s in checked if s.correct) / len(checked)) if checked else None,
        "checked": len(checked), "curriculum": spec.curriculum, "source": spec.source.kind,
        "sampling": asdict(spec.sampling), "filters": asdict(spec.filters), "stopped": control.stop_requested,
    }
    for target in (f"{path}.report.json", os.path.join(job_dir, P.RESULT_FILE)):
        with open(target, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    metrics = {"generated": float(len(samples)), "kept": float(len(kept)), **{f"dropped_{k}": float(v) for k, v in dropped.items()}}
    if report["accuracy"] is not None:
        metrics["reward"] = report["accuracy"]  # telemetry.ts: mean answer correctness of the samples
    out.emit(P.eval_event(0, 0, metrics))
    reasons = ", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "none"
    out.log(f"teacher-generate: kept {len(kept)} of {len(samples)} samples from {len(prompts)} prompts (dropped: {reasons}); wrote {path}")
    return "stopped" if control.stop_requested else "finished"


def _output_record(sample: Sample, prompts: PromptSet, difficulty: Dict[int, float]) -> Dict[str, Any]:
    rec = prompts.records[sample.prompt]
    if "messages" in rec:
        out: Dict[str, Any] = {"messages": prompt_messages(rec) + [{"role": "assistant", "content": sample.text}]}
    else:
        out = {"prompt": rec["prompt"], "completion": sample.text}
    if prompts.answers[sample.prompt] is not None:
        out["answer"] = prompts.answers[sample.prompt]
    if sample.prompt in difficulty:
        out["difficulty"] = difficulty[sample.prompt]
    for key in ("teacher_topk", "teacher_topk_tokens"):
        if key in sample.extra:
            out[key] = sample.extra[key]
    out["meta"] = {"prompt_line": prompts.lines[sample.prompt], "sample": sample.extra.get("sample", 0), "tokens": sample.tokens,
                   "finish": sample.finish, "correct": sample.correct}
    return out
