"""On-policy and sequence-level distillation (GKD, Agarwal et al. 2024): some micro-batches train on
continuations sampled from their prompts instead of the dataset's completions.

For each micro-batch a seeded draw decides whether it is sampled (probability `fraction`, GKD's λ).
A sampled micro-batch keeps every row's prompt (the tokens before its first trained label), lets
`source` continue it — the student (on-policy: the teacher then scores the student's own mistakes,
which is what fixes the train/generate mismatch of plain KD) or the teacher (sequence-level KD) —
and trains on the continuation up to and including the first end-of-sequence token. The loss
itself is unchanged: the stage's divergence between teacher and student on those tokens.

    python3 -m retort_torch.on_policy build --rows ROWS.json --samples SAMPLES.json --out BATCH.json
writes the HF-style batch (input_ids, labels with -100) that `build_rows` makes from dataset rows
{ids, labels} and sampled continuations [[int]], for the engine's parity test.
"""
from __future__ import annotations

import argparse
import json
import random
from typing import List, Optional, Sequence, Tuple

import torch

from .data import Row
from .generate import generate
from .model import CausalLM, autocast
from .spec import OnPolicy, SpecError


def prompt_length(row: Row, where: str = "row") -> int:
    """Tokens up to and including the one that predicts the first trained label."""
    if len(row.doc_starts) > 1:
        raise SpecError(f"{where}: onPolicy samples one continuation per row; packed rows hold several documents "
                        "(set data.packing false in this stage)")
    first = next((t for t, label in enumerate(row.labels) if label >= 0), None)
    if first is None:
        raise SpecError(f"{where}: no trained label, so no prompt/completion boundary to sample from")
    return first + 1


def build_rows(rows: Sequence[Row], samples: Sequence[Sequence[int]], eos: Sequence[int]) -> List[Row]:
    """Prompt of each row + its sampled continuation, cut after the first eos; every continuation
    token is a trained label (labels[t] = ids[t + 1], as in the tokenized data)."""
    out = []
    for i, (row, sample) in enumerate(zip(rows, samples)):
        n = prompt_length(row, f"row {i}")
        cont = list(sample)
        stop = next((j for j, tok in enumerate(cont) if tok in eos), None)
        if stop is not None:
            cont = cont[:stop + 1]
        if not cont:
            raise ValueError(f"row {i}: empty continuation (sample at least one token)")
        ids = list(row.ids[:n]) + cont
        labels = [-1] * (n - 1) + cont + [-1]
        out.append(Row(ids, labels, [0], line=row.line, source_line=row.source_line))
    return out


class OnPolicySampler:
    """Decides per micro-batch whether to sample, and samples. Draws depend on (seed, step, index)
    only, so a resumed job makes the same choices."""

    def __init__(self, cfg: OnPolicy, seed: int, eos: Sequence[int], max_len: int, pad_id: int = 0) -> None:
        self.cfg, self.seed, self.eos, self.max_len, self.pad_id = cfg, seed, list(eos), max_len, pad_id

    def chosen(self, step: int, micro: int) -> bool:
        return random.Random(self.seed * 1_000_003 + step * 4099 + micro).random() < self.cfg.fraction

    @torch.no_grad()
    def sample(self, model: CausalLM, rows: Sequence[Row], step: int, micro: int,
               amp: Optional[torch.dtype] = None) -> List[Row]:
        device = next(model.parameters()).device
        prompts = [r.ids[:prompt_length(r, f"row {r.line}")] for r in rows]
        width = max(len(p) for p in prompts)
        room = max(1, min(self.cfg.max_new_tokens, self.max_len - width))
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left-padded, as generate() expects
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        g = torch.Generator(device=device).manual_seed(self.seed * 7919 + step * 31 + micro)
        was_training = model.training
        model.eval()
        with autocast(device, amp):
            out = generate(model, ids.to(device), room, attention_mask=mask.to(device), temperature=self.cfg.temperature,
                           eos_token_ids=self.eos, pad_token_id=self.pad_id, generator=g)
        model.train(was_training)
        samples = [seq[width:].tolist() for seq in out.cpu()]
        return build_rows(rows, [_strip_padding(s, self.eos, self.pad_id) for s in samples], self.eos)


def _strip_padding(sample: List[int], eos: Sequence[int], pad_id: int) -> List[int]:
    """generate() pads rows that finished early; keep up to the eos (build_rows cuts there)."""
    stop = next((j for j, tok in enumerate(sample) if tok in eos), None)
    return sample if stop is None else sample[:stop + 1]


def hf_batch(rows: Sequence[Row]) -> Tuple[List[List[int]], List[List[int]]]:
    """Right-padded input_ids and HF labels (-100 = not counted, label of token t at position t)."""
    width = max(len(r.ids) for r in rows)
    ids, labels = [], []
    for r in rows:
        ids.append(r.ids + [0] * (width - len(r.ids)))
        hf = [-100] * width
        for t, label in enumerate(r.labels):
            if label >= 0:
                hf[t + 1] = label
        labels.append(hf)
    return ids, labels


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m retort_torch.on_policy")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="dataset rows + sampled continuations -> HF batch JSON")
    b.add_argument("--rows", required=True, help="JSON [{ids, labels}]")
    b.add_argument("--samples", required=True, help="JSON [[int]] one continuation per row")
    b.add_argument("--eos", default="", help="comma-separated eos ids")
    b.add_argument("--out", required=True)
    a = p.parse_args(argv)
    with open(a.rows, encoding="utf-8") as f:
        rows = [Row(r["ids"], r["labels"], [0]) for r in json.load(f)]
    with open(a.samples, encoding="utf-8") as f:
        samples = json.load(f)
    eos = [int(x) for x in a.eos.split(",") if x]
    ids, labels = hf_batch(build_rows(rows, samples, eos))
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"input_ids": ids, "labels": labels}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
