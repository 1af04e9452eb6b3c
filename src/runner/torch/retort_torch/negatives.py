"""Negative samples (issue 8's data recipes; seeds 001/002's "learn from the teacher's mistakes too"):
rows flagged `negative: true` are wrong traces of a question the data also answers correctly, e.g.
`retort demo-augment --negatives P`. They do not enter the distillation loss. Each is paired with
the correct row that has the same prompt; the first completion token where the two differ is the
mistake, and unlikelihood training (Welleck et al. 2020) pushes its probability down:

    UL = mean over negatives of −log(1 − p_s(wrong token | shared prefix))

Only that token: the tokens after it continue a trace that is already wrong, and the prefix before
it is correct (the positive row trains it). Each step adds `weight · UL` over `batch` negatives,
taken in a fixed cycle (negative i at step s is (s·batch + i) mod n), so a resumed run sees the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .data import DataError, Row


@dataclass
class NegativesConfig:
    weight: float = 0.5
    batch: int = 8


def parse_negatives(r: Any) -> Optional[NegativesConfig]:
    """`r`: spec.py's reader over data.negatives, or None."""
    if r is None:
        return None
    c = NegativesConfig(r.num("weight", 0.5, 0, 1000), r.integer("batch", 8, 1, 4096))
    r.done()
    return c


def _prompt_end(row: Row) -> int:
    return next(t for t, label in enumerate(row.labels) if label >= 0) + 1


def split_negatives(rows: Sequence[Row], where: str) -> Tuple[List[Row], List[Row]]:
    """(the rows the loss trains on, one row per negative: its ids up to and including the wrong
    token, the only trained label being that token). Errors name `where:line`."""
    positives = [r for r in rows if not r.negative]
    by_prompt: Dict[Tuple[int, ...], Row] = {tuple(r.ids[:_prompt_end(r)]): r for r in positives}
    out: List[Row] = []
    for r in rows:
        if not r.negative:
            continue
        n = _prompt_end(r)
        twin = by_prompt.get(tuple(r.ids[:n]))
        if twin is None:
            raise DataError(f"{where}:{r.line}: field 'negative': no correct row with the same prompt to compare against "
                            "(a negative sample must be a wrong answer to a question the data also answers)")
        t = next((i for i in range(n, len(r.ids)) if i >= len(twin.ids) or r.ids[i] != twin.ids[i]), None)
        if t is None:
            raise DataError(f"{where}:{r.line}: field 'negative': the answer is the correct row's (line {twin.line}) "
                            "or a prefix of it: nothing marks it wrong")
        labels = [-1] * (t + 1)
        labels[t - 1] = r.ids[t]
        out.append(Row(r.ids[:t + 1], labels, [0], line=r.line, source_line=r.source_line))
    if len(positives) == 0:
        raise DataError(f"{where}: every row is negative; nothing to distil")
    return positives, out


def cycle(negatives: Sequence[Row], step: int, batch: int) -> List[Row]:
    n = len(negatives)
    return [negatives[(step * batch + i) % n] for i in range(min(batch, n))]


def unlikelihood(logits: torch.Tensor, labels: torch.Tensor, vocab: int) -> torch.Tensor:
    """mean over labels ≥ 0 of −log(1 − softmax(logits)[label]); logits [B, T, V], labels [B, T]."""
    mask = labels >= 0
    logp = F.log_softmax(logits[mask][:, :vocab].float(), dim=-1)  # [N, V]
    p = logp.gather(-1, labels[mask][:, None])[:, 0].exp()
    return -torch.log1p(-p.clamp(max=1 - 1e-6)).mean()
