"""Filtering teacher traces into a training set: length, format, answer check, duplicates, order.

Each sample is judged by the first rule it fails, in this order, and counted under that reason:
  request_failed   the endpoint gave no answer after its retries
  too_short        fewer than minLength completion tokens
  too_long         more than maxLength completion tokens, or cut off by maxNewTokens (finish 'length')
                   when maxLength is set
  bad_format       requireThink and no closed <think>…</think> followed by an answer
  no_reference     answerCheck and the prompt has no reference answer
  no_answer        answerCheck and no \\boxed{} in the output
  wrong_answer     answerCheck and the boxed answer differs from the reference
  duplicate        same text as a kept sample of the same prompt ('exact', after trimming), or word
                   5-gram Jaccard similarity ≥ nearDupThreshold with one ('near')
Curriculum: 'by-difficulty' orders kept samples by their prompt's difficulty (the prompt's own
`difficulty`, else 1 − the teacher's pass rate on it when answers were checked), 'by-length' by
completion tokens, 'none' keeps prompt order. Ties keep the original order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .answers import check_answer, has_think_format
from .spec import TraceFilters

REASONS = ("request_failed", "too_short", "too_long", "bad_format", "no_reference", "no_answer", "wrong_answer", "duplicate")
SHINGLE = 5


@dataclass
class Sample:
    prompt: int  # index of the prompt
    text: str
    tokens: int  # completion tokens
    finish: str = "stop"
    error: Optional[str] = None
    correct: Optional[bool] = None  # answer check result when checked
    extracted: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)  # teacher_topk, ids, …


def shingles(text: str, n: int = SHINGLE) -> Set[Tuple[str, ...]]:
    words = re.findall(r"\S+", text.lower())
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: Set[Tuple[str, ...]], b: Set[Tuple[str, ...]]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def judge(sample: Sample, reference: Optional[str], f: TraceFilters) -> Optional[str]:
    """The first failed rule (before dedup), or None to keep. Fills `correct` when checked."""
    if sample.error is not None:
        return "request_failed"
    if sample.tokens < f.min_length:
        return "too_short"
    if f.max_length is not None and (sample.tokens > f.max_length or sample.finish == "length"):
        return "too_long"
    if f.require_think and not has_think_format(sample.text):
        return "bad_format"
    if f.answer_check:
        if reference is None:
            return "no_reference"
        check = check_answer(sample.text, reference)
        sample.correct, sample.extracted = check.correct, check.extracted
        if check.reason == "no-answer":
            return "no_answer"
        if not check.correct:
            return "wrong_answer"
    return None


def filter_samples(samples: Sequence[Sample], references: Sequence[Optional[str]], f: TraceFilters) -> Tuple[List[Sample], Dict[str, int]]:
    """Kept samples (input order) and drop counts per reason (every reason present, 0 included)."""
    dropped = {r: 0 for r in REASONS}
    kept: List[Sample] = []
    seen_text: Dict[int, Set[str]] = {}
    seen_shingles: Dict[int, List[Set[Tuple[str, ...]]]] = {}
    for s in samples:
        reason = judge(s, references[s.prompt], f)
        if reason is None and f.dedup != "none":
            key = s.text.strip()
            if key in seen_text.setdefault(s.prompt, set()):
                reason = "duplicate"
            elif f.dedup == "near":
                sh = shingles(key)
                if any(jaccard(sh, o) >= f.near_dup_threshold for o in seen_shingles.setdefault(s.prompt, [])):
                    reason = "duplicate"
                else:
                    seen_shingles[s.prompt].append(sh)
            if reason is None:
                seen_text[s.prompt].add(key)
        if reason is None:
            kept.append(s)
        else:
            dropped[reason] += 1
    return kept, dropped


def pass_rates(samples: Sequence[Sample]) -> Dict[int, float]:
    """Fraction of checked samples that were correct, per prompt (only prompts with a check)."""
    hits: Dict[int, List[bool]] = {}
    for s in samples:
        if s.correct is not None:
            hits.setdefault(s.prompt, []).append(s.correct)
    return {p: sum(v) / len(v) for p, v in hits.items()}


def order(kept: List[Sample], curriculum: str, difficulty: Dict[int, float]) -> List[Sample]:
    if curriculum == "by-length":
        return sorted(kept, key=lambda s: s.tokens)  # sorted() is stable: ties keep their order
    if curriculum == "by-difficulty":
        return sorted(kept, key=lambda s: difficulty.get(s.prompt, 0.5))
    return list(kept)
