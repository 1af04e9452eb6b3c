"""Distillation losses — the definitions the TypeScript CPU reference and the WebGPU kernels share.

Per token, with student logits z_s and teacher logits z_t already sliced to the tokenizer's vocab,
temperature T, p_t = softmax(z_t / T), p_s = softmax(z_s / T):

  forward-kl        Σ p_t (log p_t − log p_s)
  reverse-kl        Σ p_s (log p_s − log p_t)
  gjsd(β)           TRL GKD: β=0 → forward-kl, β=1 → reverse-kl, else with M = β p_t + (1−β) p_s:
                    β KL(p_t‖M) + (1−β) KL(p_s‖M)
  skew-kl(λ)        KL(p_t ‖ λ p_t + (1−λ) p_s)          (DistiLLM)
  skew-reverse-kl(λ) KL(p_s ‖ λ p_s + (1−λ) p_t)
  tvd               ½ Σ |p_t − p_s|
  hard              CE = −log softmax(z_s)[y]             (always at T = 1)

  token loss = α · T² · D + (1 − α) · CE; the batch loss sums over tokens whose mask is 1 and
  divides by their count. `soft` = mean of T²·D and `hard` = mean CE are reported alongside.

Sparse teacher targets (top-k log-probs at T=1, per token): k+1 bins — the k ids plus a tail.
Teacher q_i = exp(logprob_i), q_tail = max(0, 1 − Σ q_i); student p_i = softmax(z_s)[id_i],
p_tail = exp(logsumexp(z_s outside the ids) − logsumexp(z_s)). Temperature acts on the bins:
tempered ∝ mass^(1/T), renormalised (zero-mass bins stay zero); D is taken over the k+1 bins.
An id < 0 marks an unused slot (fewer than k targets at that token): zero mass on both sides.
When the ids cover the whole vocabulary there is no tail: both tail masses are 0.

Conventions: 0 · log 0 = 0; a bin where the first distribution has mass and the second none makes
that KL infinite (as it is). All math runs in float32 whatever the logits' dtype.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

DIVERGENCES = ("forward-kl", "reverse-kl", "gjsd", "skew-kl", "skew-reverse-kl", "tvd")
NEG_INF = float("-inf")


@dataclass
class LossConfig:
    divergence: str = "forward-kl"
    alpha: float = 0.5  # weight of the soft (teacher) term; 1 − alpha goes to the hard CE
    temperature: float = 1.0
    beta: float = 0.5  # gjsd's interpolation
    skew: float = 0.1  # λ of skew-kl / skew-reverse-kl

    def __post_init__(self) -> None:
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"loss config: field 'divergence' is {self.divergence!r}; expected one of {', '.join(DIVERGENCES)}")
        for name, lo, hi in (("alpha", 0, 1), ("beta", 0, 1), ("skew", 0, 1)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and lo <= value <= hi):
                raise ValueError(f"loss config: field '{name}' must be in [{lo}, {hi}], got {value!r}")
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"loss config: field 'temperature' must be a positive number, got {self.temperature!r}")

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "LossConfig":
        known = {f.name for f in fields(LossConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"loss config: unknown field '{unknown[0]}' (known: {', '.join(sorted(known))})")
        return LossConfig(**d)


@dataclass
class SparseTargets:
    """Teacher top-k at T=1 per token: ids [N, k] (int, < 0 = unused slot), logprobs [N, k]."""
    ids: torch.Tensor
    logprobs: torch.Tensor


@dataclass
class HeadLogits:
    """Logits computed chunk by chunk, never all at once: hidden [N, C] @ weight[:vocab]ᵀ (+ bias)."""
    hidden: torch.Tensor
    weight: torch.Tensor  # [V, C], e.g. model.lm_head.weight
    bias: Optional[torch.Tensor] = None


Logits = Union[torch.Tensor, HeadLogits]
Teacher = Union[torch.Tensor, HeadLogits, SparseTargets, None]


@dataclass
class LossParts:
    total: torch.Tensor  # scalar, differentiable: α·soft + (1−α)·hard
    soft: torch.Tensor  # scalar: mean over counted tokens of T²·D
    hard: torch.Tensor  # scalar: mean CE
    tokens: int  # how many tokens counted
    token_soft: Optional[torch.Tensor] = None  # [N] T²·D per token (dense path only; 0 where masked)
    token_hard: Optional[torch.Tensor] = None  # [N] CE per token


def _f32(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/f16 logits are upcast; float64 stays, for gradcheck)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


# ---- divergences on log-probabilities [n, m] (m = vocab or k+1 bins; -inf allowed) --------------

def _kl_terms(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """Elementwise a (log a − log b), with 0 where a = 0 (and gradients that stay finite there)."""
    live = ~torch.isneginf(la)
    la0 = torch.where(live, la, torch.zeros_like(la))
    lb0 = torch.where(live, lb, torch.zeros_like(lb))
    return torch.where(live, la0.exp() * (la0 - lb0), torch.zeros_like(la))


def _log_mix(la: torch.Tensor, lb: torch.Tensor, w: float) -> torch.Tensor:
    """log(w a + (1 − w) b) for 0 < w < 1."""
    return torch.logsumexp(torch.stack((la + math.log(w), lb + math.log1p(-w))), dim=0)


def divergence(lt: torch.Tensor, ls: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """D per row [n] from teacher and student log-probs [n, m] (already tempered)."""
    # Bins empty on both sides add nothing; give them finite stand-ins so no NaN reaches a gradient.
    dead = torch.isneginf(lt) & torch.isneginf(ls)
    lt = torch.where(dead, torch.zeros_like(lt), lt)
    ls = torch.where(dead, torch.zeros_like(ls), ls)
    kind, beta, lam = cfg.divergence, cfg.beta, cfg.skew
    if kind == "gjsd" and beta == 0:
        kind = "forward-kl"
    elif kind == "gjsd" and beta == 1:
        kind = "reverse-kl"
    if kind == "forward-kl":
        terms = _kl_terms(lt, ls)
    elif kind == "reverse-kl":
        terms = _kl_terms(ls, lt)
    elif kind == "gjsd":
        lm = _log_mix(lt, ls, beta)
        terms = beta * _kl_terms(lt, lm) + (1 - beta) * _kl_terms(ls, lm)
    elif kind == "skew-kl":
        terms = _kl_terms(lt, lt if lam == 1 else ls if lam == 0 else _log_mix(lt, ls, lam))
    elif kind == "skew-reverse-kl":
        terms = _kl_terms(ls, ls if lam == 1 else lt if lam == 0 else _log_mix(ls, lt, lam))
    else:  # tvd
        terms = 0.5 * (lt.exp() - ls.exp()).abs()
    return torch.where(dead, torch.zeros_like(terms), terms).sum(-1)


# ---- per-token soft and hard terms --------------------------------------------------------------

def sparse_bins(z_s: torch.Tensor, ids: torch.Tensor, logprobs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Teacher and student log-masses on the k+1 bins at T=1: ([n, k+1], [n, k+1]); z_s [n, V] fp32."""
    valid = ids >= 0  # [n, k]
    ids0 = torch.where(valid, ids, torch.zeros_like(ids))
    lse_all = torch.logsumexp(z_s, dim=-1)  # [n]
    ls_k = torch.where(valid, z_s.gather(1, ids0) - lse_all[:, None], torch.full_like(logprobs, NEG_INF))
    in_topk = torch.zeros_like(z_s).scatter_add(1, ids0, valid.to(z_s.dtype)) > 0  # [n, V]
    no_tail = in_topk.all(dim=-1)  # [n]: ids cover the vocabulary
    # with no tail the logsumexp would see only -inf and hand NaN to backward: feed it zeros instead
    rest = torch.where(no_tail[:, None], torch.zeros_like(z_s), z_s.masked_fill(in_topk, NEG_INF))
    lse_rest = torch.where(no_tail, torch.full_like(lse_all, NEG_INF), torch.logsumexp(rest, dim=-1))
    ls_tail = lse_rest - lse_all  # [n]
    lt_k = torch.where(valid, _f32(logprobs), torch.full_like(ls_k, NEG_INF))
    q_tail = torch.clamp(1 - lt_k.exp().sum(-1), min=0.0)
    q_tail = torch.where(no_tail, torch.zeros_like(q_tail), q_tail)
    lt_tail = torch.where(q_tail > 0, torch.log(torch.where(q_tail > 0, q_tail, torch.ones_like(q_tail))),
                          torch.full_like(q_tail, NEG_INF))
    return torch.cat((lt_k, lt_tail[:, None]), dim=1), torch.cat((ls_k, ls_tail[:, None]), dim=1)


def _temper_bins(l: torch.Tensor, t: float) -> torch.Tensor:
    """log of mass^(1/T) renormalised over the bins; -inf (zero mass) stays -inf."""
    scaled = l / t
    return scaled - torch.logsumexp(scaled, dim=-1, keepdim=True)


def token_terms(z_s: torch.Tensor, teacher: Union[torch.Tensor, SparseTargets, None], labels: Optional[torch.Tensor],
                cfg: LossConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """(T²·D [n], CE [n]) for student logits z_s [n, V] and teacher logits [n, V] or sparse targets.
    A term whose weight is 0 (α = 0 or α = 1) is not computed and comes back as zeros."""
    z_s = _f32(z_s)
    n = z_s.shape[0]
    t = float(cfg.temperature)
    soft = z_s.new_zeros(n)
    if cfg.alpha > 0:
        if isinstance(teacher, SparseTargets):
            lt, ls = sparse_bins(z_s, teacher.ids, teacher.logprobs)
            lt, ls = _temper_bins(lt, t), _temper_bins(ls, t)
        elif isinstance(teacher, torch.Tensor):
            lt = F.log_softmax(_f32(teacher.detach()) / t, dim=-1)
            ls = F.log_softmax(z_s / t, dim=-1)
        else:
            raise ValueError("distill loss: alpha > 0 needs teacher logits or sparse teacher targets")
        soft = t * t * divergence(lt, ls, cfg)
    hard = z_s.new_zeros(n)
    if cfg.alpha < 1:
        if labels is None:
            raise ValueError("distill loss: alpha < 1 needs labels for the hard cross-entropy")
        hard = -F.log_softmax(z_s, dim=-1).gather(1, labels[:, None])[:, 0]
    return soft, hard


# ---- batch losses -------------------------------------------------------------------------------

def distill_loss(student_logits: torch.Tensor, teacher: Teacher, labels: Optional[torch.Tensor], mask: torch.Tensor,
                 cfg: LossConfig, vocab_size: Optional[int] = None, normalizer: Optional[float] = None) -> LossParts:
    """The dense reference. student_logits [N, V] or [B, T, V]; teacher logits of the same leading
    shape (any padded vocab), SparseTargets ([N, k] or [B, T, k]) or None; labels [N] ([B, T]) token
    ids (ignored where mask = 0, so -100 is fine there); mask [N] ([B, T]) 1 = counts.
    `vocab_size` slices logits to the tokenizer's vocab; `normalizer` replaces the token count as the
    divisor (e.g. the token count of a whole accumulated batch)."""
    z_s, teacher, labels, mask, vocab = _prepare(student_logits, teacher, labels, mask, vocab_size)
    z_s = z_s[:, :vocab]
    if isinstance(teacher, torch.Tensor):
        teacher = teacher[:, :vocab]
    count, denom = _count(mask, normalizer)
    soft, hard = token_terms(z_s, teacher, _safe_labels(labels, mask), cfg)
    m = mask.to(soft.dtype)
    soft, hard = soft * m, hard * m
    soft_sum, hard_sum = soft.sum(), hard.sum()
    return LossParts(
        total=(cfg.alpha * soft_sum + (1 - cfg.alpha) * hard_sum) / denom,
        soft=soft_sum.detach() / denom, hard=hard_sum.detach() / denom, tokens=count,
        token_soft=soft.detach(), token_hard=hard.detach(),
    )


def distill_loss_chunked(student: Logits, teacher: Teacher, labels: Optional[torch.Tensor], mask: torch.Tensor,
                         cfg: LossConfig, vocab_size: Optional[int] = None, chunk_tokens: int = 1024,
                         normalizer: Optional[float] = None, token_weight: Optional[torch.Tensor] = None) -> LossParts:
    """Same value and gradients as `distill_loss`, computed over chunks of the counted tokens only.
    With HeadLogits for the student (and teacher) the [tokens × vocab] logits never exist in full;
    each chunk's logits, probabilities and divergence are recomputed in backward (checkpoint).
    `token_weight` (shaped like mask) multiplies each token's soft term (selective distillation)."""
    if chunk_tokens <= 0:
        raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
    weight = None if token_weight is None else token_weight.reshape(-1).detach().float()
    z_src, teacher, labels, mask, vocab = _prepare(student, teacher, labels, mask, vocab_size)
    count, denom = _count(mask, normalizer)
    rows_all = mask.nonzero()[:, 0]  # [n] the counted tokens
    safe = _safe_labels(labels, mask)

    def chunk(rows: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        z_s = _logits_rows(z_src, rows, vocab)  # [c, V]
        if isinstance(teacher, SparseTargets):
            t_rows: Union[torch.Tensor, SparseTargets, None] = SparseTargets(teacher.ids[rows], teacher.logprobs[rows])
        elif teacher is None:
            t_rows = None
        else:
            with torch.no_grad():
                t_rows = _logits_rows(teacher, rows, vocab)
        soft, hard = token_terms(z_s, t_rows, None if safe is None else safe[rows], cfg)
        if weight is not None:
            soft = soft * weight[rows]
        return soft.sum(), hard.sum()

    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in _tensors_of(z_src))
    soft_sum = hard_sum = torch.zeros((), device=mask.device)
    for start in range(0, rows_all.numel(), chunk_tokens):
        rows = rows_all[start:start + chunk_tokens]
        if needs_grad:
            s, h = checkpoint(chunk, rows, use_reentrant=False)
        else:
            s, h = chunk(rows)
        soft_sum, hard_sum = soft_sum + s, hard_sum + h
    return LossParts(
        total=(cfg.alpha * soft_sum + (1 - cfg.alpha) * hard_sum) / denom,
        soft=soft_sum.detach() / denom, hard=hard_sum.detach() / denom, tokens=count,
    )


def _logits_rows(src: Logits, rows: torch.Tensor, vocab: int) -> torch.Tensor:
    if isinstance(src, HeadLogits):
        bias = None if src.bias is None else src.bias[:vocab]
        return _f32(F.linear(src.hidden[rows], src.weight[:vocab], bias))
    return _f32(src[rows, :vocab])


def _tensors_of(src: Logits) -> Tuple[torch.Tensor, ...]:
    if isinstance(src, HeadLogits):
        return tuple(t for t in (src.hidden, src.weight, src.bias) if t is not None)
    return (src,)


def _count(mask: torch.Tensor, normalizer: Optional[float]) -> Tuple[int, float]:
    count = int(mask.sum().item())
    if normalizer is not None:
        if normalizer <= 0:
            raise ValueError(f"normalizer must be positive, got {normalizer}")
        return count, float(normalizer)
    if count == 0:
        raise ValueError("mask: no token has mask 1 (nothing to average over; skip this batch)")
    return count, float(count)


def _safe_labels(labels: Optional[torch.Tensor], mask: torch.Tensor) -> Optional[torch.Tensor]:
    """Labels where masked tokens (often -100) are replaced by 0 so gather stays in range."""
    if labels is None:
        return None
    return torch.where(mask.bool(), labels, torch.zeros_like(labels))


def _flat(t: torch.Tensor, lead: Tuple[int, ...], name: str, trailing: int) -> torch.Tensor:
    if tuple(t.shape[:len(lead)]) != lead or t.dim() != len(lead) + trailing:
        raise ValueError(f"{name}: shape {list(t.shape)} does not match student {list(lead)} (+{trailing} trailing dims)")
    return t.reshape(-1, *t.shape[len(lead):]) if trailing else t.reshape(-1)


def _prepare(student: Logits, teacher: Teacher, labels: Optional[torch.Tensor], mask: torch.Tensor,
             vocab_size: Optional[int]) -> Tuple[Logits, Teacher, Optional[torch.Tensor], torch.Tensor, int]:
    """Validate shapes and ids, flatten [B, T, ...] to [N, ...], settle the vocab size."""
    if isinstance(student, HeadLogits):
        lead, v_s = tuple(student.hidden.shape[:-1]), student.weight.shape[0]
        student = HeadLogits(student.hidden.reshape(-1, student.hidden.shape[-1]), student.weight, student.bias)
    else:
        lead, v_s = tuple(student.shape[:-1]), student.shape[-1]
        student = student.reshape(-1, v_s)
    if isinstance(teacher, HeadLogits):
        v_t = teacher.weight.shape[0]
        teacher = HeadLogits(_flat(teacher.hidden, lead, "teacher hidden", 1), teacher.weight, teacher.bias)
    elif isinstance(teacher, torch.Tensor):
        v_t = teacher.shape[-1]
        teacher = _flat(teacher, lead, "teacher_logits", 1)
    else:
        v_t = v_s
    if vocab_size is None and v_s != v_t:
        raise ValueError(f"teacher_logits: vocab {v_t} differs from the student's {v_s}; pass vocab_size to slice both")
    vocab = vocab_size if vocab_size is not None else v_s
    if vocab > min(v_s, v_t):
        raise ValueError(
            f"vocab: student has {v_s} logits and teacher {v_t}; pass vocab_size (the tokenizer's size) "
            f"no larger than both, got {vocab}")
    mask = _flat(mask, lead, "mask", 0)
    bad_mask = (mask != 0) & (mask != 1)
    if bool(bad_mask.any()):
        i = int(bad_mask.nonzero()[0, 0])
        raise ValueError(f"mask: token {i} has value {mask[i].item()}; expected 0 or 1")
    counted = mask.bool()
    if labels is not None:
        labels = _flat(labels, lead, "labels", 0).long()
        bad = counted & ((labels < 0) | (labels >= vocab))
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"labels: token {i} has id {int(labels[i])}, outside the vocab [0, {vocab})")
    if isinstance(teacher, SparseTargets):
        ids = _flat(teacher.ids, lead, "teacher_ids", 1).long()
        logprobs = _flat(teacher.logprobs, lead, "teacher_logprobs", 1)
        if ids.shape != logprobs.shape:
            raise ValueError(f"teacher_logprobs: shape {list(logprobs.shape)} differs from teacher_ids {list(ids.shape)}")
        bad = counted[:, None] & (ids >= vocab)
        if bool(bad.any()):
            i, j = bad.nonzero()[0].tolist()
            raise ValueError(f"teacher_ids: token {i} slot {j} has id {int(ids[i, j])}, outside the vocab [0, {vocab})")
        s = ids.sort(dim=-1).values
        dup = counted[:, None] & (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if bool(dup.any()):
            i, j = dup.nonzero()[0].tolist()
            raise ValueError(f"teacher_ids: token {i} repeats id {int(s[i, j])}")
        teacher = SparseTargets(ids, logprobs)
    return student, teacher, labels, mask, vocab


# ---- hidden-state distillation ------------------------------------------------------------------

class HiddenProjection(nn.Linear):
    """Learned map from student to teacher hidden size: W [d_t, d_s], b [d_t]."""

    def __init__(self, d_student: int, d_teacher: int) -> None:
        super().__init__(d_student, d_teacher, bias=True)


COSINE_EPS = 1e-8


def hidden_loss(h_s: torch.Tensor, h_t: torch.Tensor, proj: Optional[nn.Module], mask: torch.Tensor,
                kind: str = "mse", normalizer: Optional[float] = None) -> torch.Tensor:
    """mse: mean over counted tokens and teacher dims of (W h_s + b − h_t)²;
    cosine: mean over counted tokens of 1 − cos(W h_s + b, h_t), cos = a·b / (max(|a|, ε) max(|b|, ε)).
    h_s [N, d_s] or [B, T, d_s]; h_t [.., d_t]; mask [N] or [B, T]; proj None means identity."""
    if kind not in ("mse", "cosine"):
        raise ValueError(f"hidden loss: kind {kind!r}, expected 'mse' or 'cosine'")
    lead = tuple(h_s.shape[:-1])
    h_s = h_s.reshape(-1, h_s.shape[-1])
    h_t = _f32(_flat(h_t, lead, "teacher hidden", 1).detach())
    m = _flat(mask, lead, "mask", 0).float()
    count, denom = _count(m, normalizer)
    y = _f32(proj(h_s) if proj is not None else h_s)  # [N, d_t]
    if y.shape != h_t.shape:
        raise ValueError(f"hidden loss: projected student {list(y.shape)} vs teacher hidden {list(h_t.shape)}")
    if kind == "mse":
        per_token = (y - h_t).pow(2).mean(-1)
    else:
        dot = (y * h_t).sum(-1)
        per_token = 1 - dot / (y.norm(dim=-1).clamp(min=COSINE_EPS) * h_t.norm(dim=-1).clamp(min=COSINE_EPS))
    return (per_token * m).sum() / denom



# ---- attention-map distillation -----------------------------------------------------------------

def attention_map_loss(a_s: torch.Tensor, a_t: torch.Tensor, mask: torch.Tensor,
                       normalizer: Optional[float] = None) -> torch.Tensor:
    """Mean over counted query tokens of KL(ā_t ‖ ā_s), where ā = the attention probabilities
    averaged over heads (so teacher and student may have different head counts):
        a_s [B, H_s, T, S], a_t [B, H_t, T, S]; mask [B, T] (1 = the query token counts).
    Keys a query cannot see have zero teacher mass and add nothing."""
    if a_s.shape[0] != a_t.shape[0] or a_s.shape[2:] != a_t.shape[2:]:
        raise ValueError(f"attention loss: student maps {list(a_s.shape)} vs teacher {list(a_t.shape)} (B, H, T, S)")
    ms = _f32(a_s).mean(1)  # [B, T, S]
    mt = _f32(a_t.detach()).mean(1)
    m = mask.reshape(ms.shape[:2]).float()
    _, denom = _count(m, normalizer)
    live = mt > 0
    log_ms = torch.log(torch.where(live, ms, torch.ones_like(ms)).clamp(min=torch.finfo(ms.dtype).tiny))
    log_mt = torch.log(torch.where(live, mt, torch.ones_like(mt)))
    kl = torch.where(live, mt * (log_mt - log_ms), torch.zeros_like(ms)).sum(-1)  # [B, T]
    return (kl * m).sum() / denom
