"""The advanced-recipe example configs (examples/demo-{gkd,attention,selective,progressive,cross-tokenizer}*.json)
are specs the worker reads without warnings, with the knobs their notes describe."""
from __future__ import annotations

import glob
import json
import os

import pytest

from retort_torch.spec import parse_spec

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
NAMES = ("demo-gkd", "demo-attention", "demo-selective", "demo-progressive", "demo-cross-tokenizer")
EXAMPLES = sorted(p for n in NAMES for p in glob.glob(os.path.join(ROOT, f"{n}*.json")))


def load(path):
    with open(path, encoding="utf-8") as f:
        spec, warnings = parse_spec(json.load(f))
    assert warnings == []
    return spec


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_recipe_example_parses_without_warnings(path):
    assert load(path).kind == "distill"


def test_the_examples_carry_their_recipes():
    by = {os.path.basename(p)[:-5]: load(p) for p in EXAMPLES}
    assert set(by) == {"demo-gkd", "demo-gkd-seqkd", "demo-attention", "demo-selective", "demo-progressive", "demo-cross-tokenizer"}
    gkd = by["demo-gkd"].stages[0].loss
    assert gkd.on_policy.source == "student" and gkd.on_policy.fraction == 0.5 and gkd.divergence == "gjsd"
    assert by["demo-gkd-seqkd"].stages[0].loss.on_policy.source == "teacher"
    assert by["demo-attention"].stages[0].loss.attention.layer_map == [(0, 5)]
    assert by["demo-selective"].stages[0].loss.selection.by == "teacher-entropy"
    progressive = by["demo-progressive"].stages
    assert [s.name for s in progressive] == ["features", "chain-of-thought", "output"]
    assert progressive[0].loss.hidden is not None and progressive[0].loss.attention is not None
    assert [s.loss.temperature.start for s in progressive] == [5, 5, 1] and progressive[2].lr == 0.001
    uld = by["demo-cross-tokenizer"].stages[0].loss
    assert uld.uld_weight == 1 and uld.divergence == "none"
