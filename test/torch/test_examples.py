"""The runner's worked example configs (examples/runner-*.json) are specs the worker accepts."""
from __future__ import annotations

import glob
import json
import os

import pytest

from retort_torch.spec import parse_spec

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "runner-*.json")))


def test_there_are_runner_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_runner_example_parses_without_warnings(path):
    with open(path, encoding="utf-8") as f:
        spec, warnings = parse_spec(json.load(f))
    assert warnings == []
    assert spec.kind in ("teacher-generate", "distill")
