"""The answer checker — the Python mirror of src/core/answers.ts; both pass test/fixtures/answers.jsonl.

Reasoning samples end `</think>` followed by the answer, whose final value is in `\\boxed{…}`.
  extract_boxed(text)     the content of the last \\boxed{…} after the last </think>, else the last in
                          the text; braces nest; None when there is none (or it never closes)
  normalize_answer(s)     \\text{x}/\\mathrm{x} -> x, \\frac{a}{b} (\\dfrac, \\tfrac) -> a/b, drop $ and
                          spacing commands, all whitespace, a trailing period, a leading +, thousands
                          separators (1,000 -> 1000); numbers in canonical form (12.0 -> 12)
  answers_equal(a, b)     normalized strings equal, or both numbers (integers, decimals, a/b) of equal
                          exact value: 1/2 = \\frac{1}{2} = 0.5
  check_answer(out, ref)  {correct, extracted, reason}; reason is 'match', 'mismatch' or 'no-box'
  has_think_format(text)  one closed <think>…</think> section followed by a non-empty answer
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

BOX = "\\boxed"


def _box_content(text: str, start: int) -> Optional[str]:
    """Content of the box whose `\\boxed` starts at `start`, or None if it has no balanced braces."""
    i = start + len(BOX)
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def _last_box(text: str) -> Optional[str]:
    at = text.rfind(BOX)
    while at >= 0:
        content = _box_content(text, at)
        if content is not None:
            return content
        at = text.rfind(BOX, 0, at)
    return None


def extract_boxed(text: str) -> Optional[str]:
    end = text.rfind("</think>")
    if end >= 0:
        after = _last_box(text[end + len("</think>"):])
        if after is not None:
            return after
    return _last_box(text)


_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_SHORT = re.compile(r"\\[dt]?frac(\d)(\d)")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|\\left|\\right")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _as_number(s: str) -> Optional[Fraction]:
    if _NUMBER.match(s):
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return None
    if s.count("/") == 1:
        a, b = s.split("/")
        a = a[1:-1] if a.startswith("(") and a.endswith(")") else a
        b = b[1:-1] if b.startswith("(") and b.endswith(")") else b
        if _NUMBER.match(a) and _NUMBER.match(b):
            try:
                return Fraction(a) / Fraction(b)
            except (ValueError, ZeroDivisionError):
                return None
    return None


def normalize_answer(s: str) -> str:
    prev = None
    while prev != s:  # nested \text{\frac{..}{..}} unwrap from the inside out
        prev = s
        s = _TEXT_CMD.sub(r"\1", s)
        s = _FRAC.sub(r"\1/\2", s)
        s = _FRAC_SHORT.sub(r"\1/\2", s)
    s = _SPACING.sub("", s).replace("$", "")
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".")
    if s.startswith("+"):
        s = s[1:]
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    n = _as_number(s) if _NUMBER.match(s) else None
    if n is not None:
        s = str(n.numerator) if n.denominator == 1 else _decimal(s)
    return s


def _decimal(s: str) -> str:
    """A decimal literal without redundant zeros: 0.50 -> 0.5, -.5 -> -0.5."""
    sign = "-" if s.startswith("-") else ""
    body = s.lstrip("+-")
    if "e" in body.lower():
        return sign + body.lower()
    whole, _, frac = body.partition(".")
    frac = frac.rstrip("0")
    return f"{sign}{whole or '0'}" + (f".{frac}" if frac else "")


def answers_equal(a: str, b: str) -> bool:
    na, nb = normalize_answer(a), normalize_answer(b)
    if na == nb:
        return True
    x, y = _as_number(na), _as_number(nb)
    return x is not None and y is not None and x == y


@dataclass
class AnswerCheck:
    correct: bool
    extracted: Optional[str]
    reason: str  # 'match' | 'mismatch' | 'no-box'


def check_answer(output: str, reference: str) -> AnswerCheck:
    extracted = extract_boxed(output)
    if extracted is None:
        return AnswerCheck(False, None, "no-box")
    ref = extract_boxed(reference)
    ref = reference if ref is None else ref
    ok = answers_equal(extracted, ref)
    return AnswerCheck(ok, extracted, "match" if ok else "mismatch")


def has_think_format(text: str) -> bool:
    """<think> … </think> once, closed, with something after it (the answer)."""
    start, end = text.find("<think>"), text.find("</think>")
    if end < 0 or text.count("</think>") != 1 or text.count("<think>") > 1:
        return False
    if start >= 0 and start > end:
        return False
    return bool(text[end + len("</think>"):].strip())
