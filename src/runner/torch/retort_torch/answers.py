"""The answer checker — a line-for-line mirror of src/core/answers.ts; both pass the shared fixture
test/fixtures/answers.jsonl.

Reasoning samples end `</think>` followed by the answer, whose final value is in `\\boxed{…}`.
  extract_boxed(text)      the last complete \\boxed{…} after the last </think>, else the last anywhere;
                           braces nest, \\{ and \\} are literal; None when there is none
  normalize_answer(s)      canonical text (the rules are listed on the function)
  numeric_value(s)         a normalized decimal (1e3 allowed) or integer fraction a/b, else None
  check_answer(out, ref)   {correct, extracted, reason}: reason 'equal' | 'numeric' | 'different' | 'no-answer'
  has_think_format(text)   at most one <think> (only whitespace before it), exactly one </think> after
                           it, and a non-empty answer after that
JS regex classes are ASCII (\\w, \\d), so the Python patterns use re.ASCII where they matter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
REASONS = ("equal", "numeric", "different", "no-answer")


@dataclass
class CheckResult:
    correct: bool
    extracted: Optional[str]  # the raw contents of the chosen \boxed{}, None when there is none
    reason: str


_BOXED = re.compile(r"\\boxed\s*\{")


def _matching_brace(text: str, start: int) -> int:
    """Index of the `}` closing the group that starts at `start` (just after its `{`), or −1."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 1  # skip the escaped character: \{ \} do not group
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def all_boxed(text: str) -> List[str]:
    """Every complete \\boxed{…} in order; unterminated ones are skipped."""
    found = []
    pos = 0
    while True:
        m = _BOXED.search(text, pos)
        if m is None:
            return found
        start = m.end()
        end = _matching_brace(text, start)
        if end >= 0:
            found.append(text[start:end])
            pos = end + 1
        else:
            pos = m.end()


def _last_boxed(text: str) -> Optional[str]:
    found = all_boxed(text)
    return found[-1] if found else None


def extract_boxed(text: str) -> Optional[str]:
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        after = _last_boxed(text[close + len(THINK_CLOSE):])
        if after is not None:
            return after
    return _last_boxed(text)


_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_DIGITS = re.compile(r"\\frac\s*([0-9])\s*([0-9])")
_PLAIN = re.compile(r"^[\w.]+$", re.ASCII)
_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")
_DECIMAL = re.compile(r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$", re.IGNORECASE)
_FRACTION = re.compile(r"^(-?)\(?([0-9]+)\)?/\(?([0-9]+)\)?$")


def _fraction(m: "re.Match[str]") -> str:
    a, b = m.group(1).strip(), m.group(2).strip()
    return f"{a}/{b}" if _PLAIN.match(a) and _PLAIN.match(b) else f"({a})/({b})"


def normalize_answer(s: str) -> str:
    """In this order: \\text{x}/\\textbf{x}/\\mathrm{x} → x; \\dfrac/\\tfrac → \\frac; \\frac{a}{b} and \\frac ab
    → a/b ((a)/(b) unless both are plain words or numbers); drop $, \\left, \\right, LaTeX spacing
    (\\, \\; \\! \\ ), ^\\circ, ^{\\circ}, °, \\%, %; − → -; remove all whitespace; drop trailing periods;
    drop {,} and thousands commas in a number like 1,234,567; drop a leading +."""
    t = s
    while True:
        nxt = _TEXT_CMD.sub(r"\1", t)
        if nxt == t:
            break
        t = nxt
    t = re.sub(r"\\[dt]frac", r"\\frac", t)
    t = _FRAC.sub(_fraction, t)
    t = _FRAC_DIGITS.sub(r"\1/\2", t)
    t = t.replace("$", "")
    t = re.sub(r"\\left|\\right", "", t)
    t = re.sub(r"\\[,;:! ]", "", t)
    t = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", t).replace("°", "")
    t = re.sub(r"\\?%", "", t)
    t = t.replace("\u2212", "-")
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"\.+$", "", t)
    t = t.replace("{,}", "")
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    return re.sub(r"^\+", "", t)


def numeric_value(normalized: str) -> Optional[float]:
    if _DECIMAL.match(normalized):
        return float(normalized)
    m = _FRACTION.match(normalized)
    if m and int(m.group(3)) != 0:
        return (-1 if m.group(1) else 1) * (int(m.group(2)) / int(m.group(3)))
    return None


def numbers_equal(a: float, b: float) -> bool:
    """Within 1e-9 relative (absolute below 1)."""
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_answer(output: str, reference: str) -> CheckResult:
    """Judge an output against a reference answer (itself possibly wrapped in \\boxed{})."""
    extracted = extract_boxed(output)
    if extracted is None:
        return CheckResult(False, None, "no-answer")
    got = normalize_answer(extracted)
    ref = extract_boxed(reference)
    want = normalize_answer(reference if ref is None else ref)
    if got == want and got != "":
        return CheckResult(True, extracted, "equal")
    a, b = numeric_value(got), numeric_value(want)
    if a is not None and b is not None and numbers_equal(a, b):
        return CheckResult(True, extracted, "numeric")
    return CheckResult(False, extracted, "different")


def has_think_format(text: str) -> bool:
    closes, opens = text.count(THINK_CLOSE), text.count(THINK_OPEN)
    if closes != 1 or opens > 1:
        return False
    close = text.find(THINK_CLOSE)
    if opens == 1:
        start = text.find(THINK_OPEN)
        if start > close or text[:start].strip() != "":
            return False
    return text[close + len(THINK_CLOSE):].strip() != ""


def split_think(text: str) -> Tuple[Optional[str], str]:
    """(reasoning, answer); reasoning is None without </think>."""
    close = text.rfind(THINK_CLOSE)
    if close < 0:
        return None, text
    start = text.find(THINK_OPEN)
    frm = start + len(THINK_OPEN) if 0 <= start < close else 0
    return text[frm:close], text[close + len(THINK_CLOSE):]
