"""Rewards of the RL stage (seed 000: `0.7 · bleu + 0.3 · task`). Similarities compare token ids of
the student's answer with the teacher's (end-of-sequence tokens dropped first), so they need no
tokenizer and work for any vocabulary; both lie in [0, 1]."""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Dict, Optional, Sequence

from ..answers import check_answer, extract_boxed


def token_f1(candidate: Sequence[int], reference: Sequence[int]) -> float:
    """SQuAD's bag-of-tokens F1: overlap = Σ_token min(count in candidate, count in reference),
    P = overlap / |candidate|, R = overlap / |reference|, F1 = 2PR / (P + R); two empty answers match."""
    if not candidate or not reference:
        return float(not candidate and not reference)
    overlap = sum((Counter(candidate) & Counter(reference)).values())
    if overlap == 0:
        return 0.0
    p, r = overlap / len(candidate), overlap / len(reference)
    return 2 * p * r / (p + r)


def _ngrams(seq: Sequence[int], n: int) -> Counter:
    return Counter(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def bleu(candidate: Sequence[int], reference: Sequence[int], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002) with add-one smoothing of the n > 1 precisions (Lin & Och
    2004, "smoothing 2"), so a short answer with no 4-gram match still gets a graded score:
        BLEU = BP · exp(Σ_n log p_n / N),  p_1 = m_1 / c_1,  p_n = (m_n + 1) / (c_n + 1) for n > 1,
        BP = 1 if |c| > |r| else exp(1 − |r| / |c|);  m_n = clipped n-gram matches, c_n = candidate n-grams."""
    if not candidate or not reference:
        return float(not candidate and not reference)
    logs = []
    for n in range(1, max_n + 1):
        cand = _ngrams(candidate, n)
        total = sum(cand.values())
        matched = sum((cand & _ngrams(reference, n)).values())
        if n == 1:
            if matched == 0:
                return 0.0
            logs.append(math.log(matched / total))
        else:
            logs.append(math.log((matched + 1) / (total + 1)))
    bp = 1.0 if len(candidate) > len(reference) else math.exp(1 - len(reference) / len(candidate))
    return bp * math.exp(sum(logs) / max_n)


SIMILARITIES: Dict[str, Callable[[Sequence[int], Sequence[int]], float]] = {"token-f1": token_f1, "bleu": bleu}


def task_reward(answer_text: str, reference_text: str) -> Optional[float]:
    """1 when the student's boxed answer equals the reference's (answers.py rules), else 0; None when
    the reference has no boxed answer to check against (the trainer then counts the task term as 0)."""
    ref = extract_boxed(reference_text)
    if ref is None:
        return None
    return float(check_answer(answer_text, ref).correct)

