"""Universal Logit Distillation (Boizard et al. 2024) for a teacher with another tokenizer.

Token ids of two tokenizers do not name the same strings, so p_t and p_s cannot be compared id by
id. ULD compares their shapes instead: both probability vectors sorted in decreasing order (the
shorter vocabulary padded with zeros), then the L1 distance between them — the Wasserstein-1
distance between the two distributions under a uniform cost over ranks. Tokens are paired by
position over the answer: the i-th trained token of the student's row with the i-th trained token
of the teacher's tokenization of the same text, up to the shorter of the two.

  uld = Σ_pairs Σ_k |sort↓(p_s)_k − sort↓(p_t)_k| / normalizer      (at T = 1, as in the paper)
  stage loss = CE + weight · uld     (divergence 'none': the id-by-id soft term is off)

The teacher's rows come with the data (`teacher_ids`, `teacher_labels`, written by the runner with
the teacher's tokenizer); when both tokenizers are one, the student's own rows serve.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .data import Batch, Row, collate
from .losses import HeadLogits, _f32
from .spec import SpecError

PAIR_CHUNK = 256  # pairs per chunk: two [chunk × vocab] sorted copies live at once

Logits = Union[torch.Tensor, HeadLogits]


def teacher_rows(rows: Sequence[Row], same_tokenizer: bool, where: str, t_vocab: int) -> List[Row]:
    """The teacher's tokenization of each row (the row itself when the tokenizers are one)."""
    out = []
    for r in rows:
        if r.teacher_ids is not None and r.teacher_labels is not None:
            bad = next((i for i, x in enumerate(r.teacher_ids) if x >= t_vocab), None)
            if bad is not None:
                raise SpecError(f"{where}:{r.line}: field 'teacher_ids[{bad}]': id {r.teacher_ids[bad]} is outside the teacher's vocab [0, {t_vocab})")
            out.append(Row(r.teacher_ids, r.teacher_labels, [0], line=r.line))
        elif same_tokenizer:
            out.append(r)
        else:
            raise SpecError(f"{where}:{r.line}: fields 'teacher_ids', 'teacher_labels': required by loss.uld when the "
                            "teacher's tokenizer differs (the runner writes them with the teacher's tokenizer)")
    return out


def teacher_batch(rows: Sequence[Row], same_tokenizer: bool, where: str, t_vocab: int) -> Batch:
    return collate(teacher_rows(rows, same_tokenizer, where, t_vocab))


def paired_positions(s_mask: torch.Tensor, t_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (into [B·T_s], [B·T_t]) of the i-th counted token of each side, row by row."""
    s_rows, t_rows = [], []
    for b in range(s_mask.shape[0]):
        s = s_mask[b].nonzero()[:, 0]
        t = t_mask[b].nonzero()[:, 0]
        n = min(s.numel(), t.numel())
        s_rows.append(s[:n] + b * s_mask.shape[1])
        t_rows.append(t[:n] + b * t_mask.shape[1])
    return torch.cat(s_rows), torch.cat(t_rows)


def sorted_l1(z_s: torch.Tensor, z_t: torch.Tensor) -> torch.Tensor:
    """[n] Σ_k |sort↓ softmax(z_s)_k − sort↓ softmax(z_t)_k|, vocabularies padded with zero mass."""
    p_s = F.softmax(_f32(z_s), dim=-1).sort(dim=-1, descending=True).values  # float64 stays (gradcheck)
    p_t = F.softmax(_f32(z_t), dim=-1).sort(dim=-1, descending=True).values
    v = max(p_s.shape[-1], p_t.shape[-1])
    p_s = F.pad(p_s, (0, v - p_s.shape[-1]))
    p_t = F.pad(p_t, (0, v - p_t.shape[-1]))
    return (p_s - p_t).abs().sum(-1)


def _rows(src: Logits, rows: torch.Tensor, vocab: int) -> torch.Tensor:
    if isinstance(src, HeadLogits):
        h = src.hidden.reshape(-1, src.hidden.shape[-1])[rows]
        return F.linear(h, src.weight[:vocab], None if src.bias is None else src.bias[:vocab])
    return src.reshape(-1, src.shape[-1])[rows, :vocab]


def uld_loss(student: Logits, s_mask: torch.Tensor, teacher: Logits, t_mask: torch.Tensor,
             s_vocab: int, t_vocab: int, normalizer: Optional[float] = None) -> torch.Tensor:
    """Sum of sorted_l1 over paired answer tokens / normalizer (default: the number of pairs).
    student/teacher: logits [B, T, V] or HeadLogits over [B, T, C]; masks [B, T_s], [B, T_t]."""
    s_idx, t_idx = paired_positions(s_mask, t_mask)
    n = s_idx.numel()
    denom = float(normalizer) if normalizer is not None else float(max(n, 1))
    total: torch.Tensor = torch.zeros((), device=s_mask.device)
    if n == 0:
        return total

    def chunk(si: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z_t = _rows(teacher, ti, t_vocab)
        return sorted_l1(_rows(student, si, s_vocab), z_t).sum()

    for start in range(0, n, PAIR_CHUNK):
        si, ti = s_idx[start:start + PAIR_CHUNK], t_idx[start:start + PAIR_CHUNK]
        total = total + (checkpoint(chunk, si, ti, use_reentrant=False) if torch.is_grad_enabled() else chunk(si, ti))
    return total / denom
