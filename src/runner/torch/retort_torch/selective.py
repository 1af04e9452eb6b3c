"""Selective distillation: per-token weights on the soft term, from what the teacher shows.

Scores per loss position t (the position that predicts token t + 1), counted tokens only:
  teacher-entropy     H(p_t^T) = −Σ p log p of the teacher's tempered distribution at t: the
                      tokens where the teacher hesitates carry the most beyond the one-hot label
  teacher-attention   attention received by token t + 1 in the teacher's last layer, averaged over
                      heads and over the queries that can see it (queries ≥ t + 1 in its sequence):
                      the tokens the teacher keeps reading (carries, partial results)
Weights, per sequence over its n counted positions (so the soft term keeps its scale and α its meaning):
  top    the k = ceil(topFraction · n) highest scores get n / k, the rest 0
  soft   score / mean(score); all ones when every score is 0
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch
import torch.nn.functional as F

from .losses import HeadLogits
from .protocol import Event, sample_event
from .spec import Selection
from .tokenizer import Detokenizer

ENTROPY_CHUNK = 1024


@torch.no_grad()
def entropy_scores(teacher: HeadLogits, mask: torch.Tensor, temperature: float, vocab: int) -> torch.Tensor:
    """[B, T] teacher entropy at temperature T where mask = 1, 0 elsewhere; logits chunk by chunk."""
    b, t = mask.shape
    hidden = teacher.hidden.reshape(b * t, -1)
    flat = torch.zeros(b * t, device=mask.device)
    rows = mask.reshape(-1).nonzero()[:, 0]
    for start in range(0, rows.numel(), ENTROPY_CHUNK):
        r = rows[start:start + ENTROPY_CHUNK]
        z = F.linear(hidden[r], teacher.weight[:vocab], None if teacher.bias is None else teacher.bias[:vocab]).float()
        logp = F.log_softmax(z / temperature, dim=-1)
        flat[r] = -(logp.exp() * logp).sum(-1)
    return flat.reshape(b, t)


@torch.no_grad()
def attention_scores(attn: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T] from teacher attention probabilities [B, H, T, S=T]: mean attention key t + 1 receives."""
    a = attn.float().mean(1)  # [B, T, S]
    received = a.sum(1)  # [B, S]: Σ over queries
    seen_by = (a > 0).sum(1).clamp(min=1).float()  # [B, S]: queries that see the key
    per_key = received / seen_by
    score = torch.zeros_like(per_key)
    score[:, :-1] = per_key[:, 1:]  # position t is scored by the token it predicts
    return score * mask


def token_weights(sel: Selection, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T] weights (0 where mask = 0), mean 1 over each sequence's counted positions."""
    m = mask.bool()
    w = torch.zeros_like(scores, dtype=torch.float32)
    for i in range(scores.shape[0]):
        where = m[i].nonzero()[:, 0]
        n = where.numel()
        if n == 0:
            continue
        s = scores[i, where].float()
        if sel.mode == "top":
            k = max(1, math.ceil(sel.top_fraction * n))
            keep = torch.topk(s, k).indices
            w[i, where[keep]] = n / k
        else:
            mean = s.mean()
            w[i, where] = s / mean if float(mean) > 0 else torch.ones_like(s)
    return w


def selection_weights(sel: Selection, teacher: Optional[HeadLogits], last_attention: Optional[torch.Tensor],
                      mask: torch.Tensor, temperature: float, vocab: int) -> torch.Tensor:
    if sel.by == "teacher-entropy":
        assert teacher is not None, "selection by teacher-entropy needs the teacher's hidden states"
        scores = entropy_scores(teacher, mask, temperature, vocab)
    else:
        assert last_attention is not None, "selection by teacher-attention needs the teacher's last-layer attention"
        scores = attention_scores(last_attention, mask)
    return token_weights(sel, scores, mask)


def selection_event(step: int, ids: List[int], labels: List[int], weights: List[float], detok: Detokenizer) -> Event:
    """A `sample` event (source 'selection') for the UI's heatmap: the row's prompt, its completion and
    the weight each completion token got (weights[t] belongs to the token labels[t] = ids[t + 1])."""
    first = next(t for t, label in enumerate(labels) if label >= 0)
    trained = [(label, w) for label, w in zip(labels, weights) if label >= 0]
    event = sample_event(step, detok.decode(ids[:first + 1]), detok.decode([label for label, _ in trained]), "selection")
    event["tokenWeights"] = [{"token": detok.decode([label], skip_special=False), "weight": round(w, 4)} for label, w in trained]
    return event
