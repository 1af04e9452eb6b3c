"""answers.py against the shared fixture (the contract with src/core/answers.ts) and a few more cases."""
from __future__ import annotations

import json
import os

import pytest

from retort_torch.answers import check_answer, extract_boxed, has_think_format, normalize_answer, numeric_value, split_think

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "answers.jsonl")


def _cases():
    with open(FIXTURE, "r", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_shared_fixture():
    cases = _cases()
    assert len(cases) >= 30
    wrong = []
    for i, c in enumerate(cases, start=1):
        got = check_answer(c["output"], c["reference"])
        if got.correct != c["correct"] or got.extracted != c["extracted"]:
            wrong.append(f"line {i} ({c.get('note')}): got correct={got.correct} extracted={got.extracted!r}, "
                         f"want correct={c['correct']} extracted={c['extracted']!r}")
    print(f"{len(cases) - len(wrong)}/{len(cases)} fixture cases agree")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("text, boxed", [
    ("\\boxed{1} then </think> \\boxed{2} and \\boxed{3}", "3"),
    ("\\boxed{before} </think> no box after", "before"),
    ("</think> \\boxed{a\\{b\\}c}", "a\\{b\\}c"),  # escaped braces do not group
    ("</think> \\boxed {x} \\boxed{y", "x"),  # space before the brace; unterminated last box skipped
])
def test_extract_boxed(text, boxed):
    assert extract_boxed(text) == boxed


@pytest.mark.parametrize("raw, norm", [
    ("\\text{ 12 }", "12"), ("\\dfrac{1}{2}", "1/2"), ("\\frac{x+1}{2}", "(x+1)/(2)"), ("\\frac34", "3/4"),
    ("$1,234,567$.", "1234567"), ("+5", "5"), ("90^\\circ", "90"), ("50\\%", "50"), ("\u22123", "-3"), ("1{,}000", "1000"),
])
def test_normalize(raw, norm):
    assert normalize_answer(raw) == norm


def test_numbers_and_think_format():
    assert numeric_value("0.5") == numeric_value("1/2") == numeric_value("(1)/(2)") == 0.5
    assert numeric_value("x/2") is None and numeric_value("1/0") is None
    assert check_answer("</think> \\boxed{12.0}", "12").reason == "numeric"
    assert check_answer("</think> \\boxed{}", "").correct is False  # empty equals empty is not an answer
    assert has_think_format("<think>a</think> b") and has_think_format("  reasoning</think>\nanswer")
    assert not has_think_format("x <think>a</think> b")  # text before <think>
    assert not has_think_format("<think>a</think>   ") and not has_think_format("a</think>b</think>c")
    assert split_think("<think>r</think>a") == ("r", "a") and split_think("plain") == (None, "plain")
