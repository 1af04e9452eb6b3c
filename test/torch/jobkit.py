"""Helpers for the worker tests: tiny models, tokenized rows, job folders, running the worker."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from conftest import PKG

from retort_torch import protocol as P
from retort_torch.make_tiny import make_tiny

PYTHON = sys.executable


def tiny_pair(root: str, teacher_layers: int = 2) -> Tuple[str, str]:
    """A tiny qwen2 teacher (C=64, 2 layers) and a smaller student (C=32, 1 layer), same vocab 128."""
    teacher, student = os.path.join(root, "teacher"), os.path.join(root, "student")
    if not os.path.isdir(teacher):
        make_tiny(teacher, "qwen2", seed=1, layers=teacher_layers)
        make_tiny(student, "qwen2", seed=2, layers=1, hidden=32, heads=2, kv_heads=1, intermediate=48)
    return teacher, student


def progression_rows(n: int, seed: int = 0, prompt: int = 3, lo: int = 10, hi: int = 20,
                     vocab: int = 120) -> List[Dict[str, Any]]:
    """Arithmetic progressions mod `vocab` (+3): learnable, so the loss must fall. The first
    `prompt` tokens are the prompt (labels −1), the rest are trained."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, d, length = rng.randrange(3, 100), rng.randrange(1, 4), rng.randrange(lo, hi)
        ids = [(a + k * d) % vocab + 3 for k in range(length)]
        labels = [ids[t + 1] if prompt - 1 <= t < length - 1 else -1 for t in range(length)]
        rows.append({"ids": ids, "labels": labels, "line": i + 1})
    return rows


def write_jsonl(path: str, rows: Sequence[Dict[str, Any]]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def distill_spec(teacher: str, student: str, stages: List[Dict[str, Any]], **over: Any) -> Dict[str, Any]:
    spec: Dict[str, Any] = {
        "kind": "distill", "teacher": {"path": teacher}, "student": {"path": student}, "seed": 3, "stages": stages,
        "optimizer": {"lr": 3e-3, "weightDecay": 0.0, "schedule": {"kind": "cosine", "warmupSteps": 2}},
        "batch": {"microBatch": 4, "gradAccumulation": 1}, "checkpoint": {"everySteps": 0, "keepLast": 3},
    }
    spec.update(over)
    return spec


def stage(name: str, steps: int, **loss: Any) -> Dict[str, Any]:
    return {"name": name, "data": {"path": f"{name}.jsonl", "maxSeqLen": 64}, "loss": loss or {}, "stop": {"steps": steps}}


def make_job(job: str, spec: Dict[str, Any], stage_rows: Sequence[Sequence[Dict[str, Any]]] = (),
             extra: Optional[Dict[str, Sequence[Dict[str, Any]]]] = None) -> str:
    os.makedirs(job, exist_ok=True)
    with open(os.path.join(job, P.SPEC_FILE), "w", encoding="utf-8") as f:
        json.dump(spec, f)
    for i, rows in enumerate(stage_rows):
        write_jsonl(os.path.join(job, P.stage_data_file(i)), rows)
    for rel, rows in (extra or {}).items():
        write_jsonl(os.path.join(job, rel), rows)
    return job


def env() -> Dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG + os.pathsep + e.get("PYTHONPATH", "")
    e["OMP_NUM_THREADS"] = "1"  # two shared cores; the tests run one worker at a time
    return e


def run_worker(job: str, *args: str, timeout: float = 120) -> Tuple[int, List[Dict[str, Any]], str]:
    """(exit code, stdout events, stderr) of one worker run; every stdout line must be an event."""
    # stdin /dev/null: an inherited pipe that closes would be the runner going away (a stop)
    p = subprocess.run([PYTHON, "-m", "retort_torch.worker", "--job", job, *args], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=env(), timeout=timeout, cwd=os.path.dirname(job))
    return p.returncode, parse_events(p.stdout), p.stderr


def start_worker(job: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "retort_torch.worker", "--job", job, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=os.path.dirname(job))


def parse_events(stdout: str) -> List[Dict[str, Any]]:
    events = []
    for n, line in enumerate(stdout.splitlines(), start=1):
        e = json.loads(line)  # anything but JSON on stdout breaks the protocol
        problems = P.check_event(e)
        assert not problems, f"stdout line {n}: {problems}: {line[:300]}"
        events.append(e)
    return events


def of_type(events: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def losses(events: List[Dict[str, Any]]) -> Dict[int, float]:
    return {e["step"]: e["loss"] for e in of_type(events, "step")}


def run_inproc(job: str, *args: str) -> Tuple[int, List[Dict[str, Any]]]:
    """The worker's job run in this process (no interpreter start-up): (exit code, events)."""
    import io
    from retort_torch import worker
    buf = io.StringIO()
    rc = worker.run(["--job", job, *args], buf)
    return rc, parse_events(buf.getvalue())


def bigram_model(folder: str, chains: Dict[str, List[str]], eos: str = "<|im_end|>", vocab: int = 128) -> Dict[str, int]:
    """make_tiny.successor_model over pieces: each piece deterministically continues with the next
    one of its chain (greedy and T = 0.6 sampling agree). `chains` maps a start piece to the pieces
    that follow it; the last piece of a chain is followed by eos. Writes a byte-level tokenizer.json
    of single pieces. Returns piece -> id."""
    from retort_torch.make_tiny import successor_model
    from retort_torch.tokenizer import bytes_to_unicode

    pieces = [eos, "Question:"]
    succ: Dict[str, str] = {}
    for start, rest in chains.items():
        seq = [start] + rest
        for a, b in zip(seq, seq[1:] + [eos]):
            assert a not in succ, f"piece {a!r} used twice"
            succ[a] = b
        pieces += [p for p in seq if p not in pieces]
    pieces += [f"f{i}" for i in range(vocab - len(pieces))]
    ids = {p: i for i, p in enumerate(pieces)}
    successor_model(folder, {ids[a]: ids[b] for a, b in succ.items()}, ids[eos], vocab)
    enc = bytes_to_unicode()
    added = [{"id": ids[eos], "content": eos, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}]
    tok = {"version": "1.0", "added_tokens": added, "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
           "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "vocab": {"".join(enc[b] for b in p.encode("utf-8")): i for p, i in ids.items() if p != eos},
                     "merges": []}}
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f)
    with open(os.path.join(folder, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token_id": ids[eos]}, f)
    return ids
