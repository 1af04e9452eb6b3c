"""spec.py against the committed JSON Schema (schemas/job-spec.schema.json, generated from the zod
schema): the defaults the worker fills in must be the schema's, and bad fields are named."""
from __future__ import annotations

import copy
import json
import os

import pytest

from retort_torch.spec import SpecError, parse_spec

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schemas", "job-spec.schema.json")
MISSING = object()


def fill_defaults(schema, value):
    """Apply JSON Schema `default`s recursively, the way zod's defaults/prefaults do (an independent
    reading of the schema file: it does not use spec.py)."""
    if value is MISSING:
        if "default" not in schema:
            return MISSING
        value = copy.deepcopy(schema["default"])
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches and isinstance(value, dict):
        kind = value.get("kind")
        objects = [b for b in branches if b.get("type") == "object"]
        pick = [b for b in objects if b.get("properties", {}).get("kind", {}).get("const") == kind] or objects[:1]
        return fill_defaults(pick[0], value) if pick else value
    if schema.get("type") == "object" and isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            v = fill_defaults(sub, value.get(key, MISSING))
            if v is not MISSING:
                value[key] = v
    if schema.get("type") == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [fill_defaults(schema["items"], v) for v in value]
    return value


MINIMAL = {
    "distill": {"kind": "distill", "teacher": {"path": "t"}, "student": {"path": "s"}, "lora": {}, "qat": {},
                "stages": [{"data": {"path": "d.jsonl", "teacherTopK": {}}, "stop": {"steps": 3},
                            "loss": {"hidden": {"layerMap": [[0, 1]]}, "attention": {"layerMap": [[0, 0]]}}},
                           {"name": "b", "data": {"path": "e.jsonl"}, "stop": {"steps": 2},
                            "loss": {"temperature": {"kind": "cosine", "from": 4, "to": 1}}}]},
    "teacher-generate": {"kind": "teacher-generate", "prompts": "p.jsonl", "output": "o.jsonl", "logprobs": {},
                         "source": {"kind": "openai", "baseUrl": "http://localhost:8000/v1", "model": "m"}},
    "teacher-generate-local": {"kind": "teacher-generate", "prompts": "p.jsonl", "output": "o.jsonl",
                               "source": {"kind": "local", "path": "t"}},
    "eval": {"kind": "eval", "model": {"path": "m"}, "dataset": "x.jsonl"},
}


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_defaults_are_the_schemas(name):
    schema = json.load(open(SCHEMA))
    minimal = MINIMAL[name]
    filled = fill_defaults({"oneOf": schema["oneOf"]}, copy.deepcopy(minimal))
    assert filled != minimal  # the schema did fill something in
    ours, warnings = parse_spec(copy.deepcopy(minimal))
    theirs, _ = parse_spec(filled)
    assert warnings == []
    assert ours == theirs


@pytest.mark.parametrize("patch, message", [
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 0}}]}, "spec.json: stages.0.stop.steps: must be ≥ 1 (got 0)"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 2}, "loss": {"divergence": "kl"}}]},
     "stages.0.loss.divergence: must be one of 'forward-kl'"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 2}, "loss": {"teacherTargets": "none"}}]},
     "stages.0.loss.divergence: must be 'none' when teacherTargets is 'none' (got 'forward-kl')"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 2}, "loss": {"teacherTargets": "offline-topk"}}]},
     "stages.0.data.teacherTopK: required when loss.teacherTargets is 'offline-topk'"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 2}, "loss": {"temperature": {"kind": "linear", "from": 2}}}]},
     "stages.0.loss.temperature.to: is required"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 2, "earlyStopPatience": 2}}]},
     "stages.0.stop.earlyStopPatience: needs periodic evaluation (eval.everySteps > 0)"),
    ({"stages": [{"data": {"path": "d"}, "stop": {"steps": 1}}, {"data": {"path": "e"}, "stop": {"steps": 1}}]},
     "stages.1.name: duplicate stage name 'main' (also stages.0.name)"),
    ({"optimizer": {"betas": [0.9]}}, "optimizer.betas: expected [β1, β2]"),
    ({"batch": {"microBatch": 2.5}}, "batch.microBatch: must be an integer (got 2.5)"),
    ({"student": {"path": "s", "init": "copy"}}, "student.init: must be 'pretrained', 'random' or {fromTeacherLayers"),
    ({"qat": {"bits": 3}}, "qat.bits: must be one of 8, 4 (got 3)"),
    ({"stages": []}, "stages: must have at least 1 item"),
    ({"kind": "export"}, "kind: 'export' jobs run in the Node runner"),
])
def test_errors_name_the_field(patch, message):
    spec = {**MINIMAL["distill"], "lora": None, "qat": None,
            "stages": [{"data": {"path": "d"}, "stop": {"steps": 1}}]}
    spec.update(patch)
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert message in str(err.value)


def test_unknown_fields_are_warnings():
    spec = copy.deepcopy(MINIMAL["eval"])
    spec["gpus"] = [0]
    spec["sampling"] = {"n": 2, "temprature": 0.5}
    parsed, warnings = parse_spec(spec)
    assert parsed.sampling.samples_per_prompt == 2
    assert sorted(warnings) == ["gpus: unknown field, ignored by the torch worker",
                                "sampling.temprature: unknown field, ignored by the torch worker"]
