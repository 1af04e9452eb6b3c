"""The run manifest beside every distill checkpoint: the mirror of src/core/run-manifest.ts (change both
together). One file name and one set of fields for the engine and this worker:

    format        "retort-run-manifest/1"
    spec          the resolved distill spec (camelCase, as the runner wrote spec.json)
    seed          int
    data          {"stage-<i>": "<algorithm>:<hex digest>"}  content hash of each stage's data
    code_version  git describe / package version
    step          optimizer steps taken (the index of the step a resumed run takes next)
    stage         index into spec.stages, as in telemetry; stage_name beside it for people
    time          ms since the epoch
    trainer       {"engine": "torch" | "webgpu", "runtime": "torch 2.4.0" | "WebGPU <adapter>", "world_size": n}
"""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Dict, Optional

FILE = "run_manifest.json"
FORMAT = "retort-run-manifest/1"
ENGINES = ("torch", "webgpu")
_HASH = re.compile(r"^[a-z0-9]+:[0-9a-f]+$")
_FIELDS = ("format", "spec", "seed", "data", "code_version", "step", "stage", "stage_name", "time", "trainer")
_TRAINER_FIELDS = ("engine", "runtime", "world_size")


class ManifestError(ValueError):
    """A manifest that does not validate; the message names the file and the field."""


def build(spec: Dict[str, Any], seed: int, data_hashes: Dict[str, str], code_version: str, step: int, stage: int,
          runtime: str, world_size: int, now_ms: Optional[int] = None) -> Dict[str, Any]:
    """A manifest for a checkpoint taken now (`spec` is the raw camelCase spec)."""
    return {
        "format": FORMAT, "spec": spec, "seed": seed, "data": dict(data_hashes), "code_version": code_version,
        "step": step, "stage": stage, "stage_name": spec["stages"][stage]["name"],
        "time": int(time.time() * 1000) if now_ms is None else now_ms,
        "trainer": {"engine": "torch", "runtime": runtime, "world_size": world_size},
    }


def write(folder: str, manifest: Dict[str, Any]) -> None:
    with open(os.path.join(folder, FILE), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)


def read(folder: str) -> Dict[str, Any]:
    """The folder's manifest, validated; ManifestError names what is missing or wrong."""
    path = os.path.join(folder, FILE)
    try:
        with open(path, "r", encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no run manifest (not a checkpoint of a distill job?)") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse(obj, path)


def parse(obj: Any, source: str = FILE) -> Dict[str, Any]:
    """Check every field as the TypeScript schema does (the spec with spec.parse_spec); returns `obj`."""
    def bad(field: str, msg: str) -> ManifestError:
        return ManifestError(f"{source}: {field}: {msg}")

    if not isinstance(obj, dict):
        raise ManifestError(f"{source}: expected an object, got {type(obj).__name__}")
    for key in obj:
        if key not in _FIELDS:
            raise bad(key, "unknown field")
    for key in _FIELDS:
        if key not in obj:
            raise bad(key, "is required")
    if obj["format"] != FORMAT:
        raise bad("format", f"expected {FORMAT!r}, got {obj['format']!r}")
    for key in ("seed", "step", "stage", "time"):
        _int(obj[key], key, bad, minimum=None if key == "seed" else 0)
    if not isinstance(obj["code_version"], str) or not obj["code_version"]:
        raise bad("code_version", "expected a non-empty string")
    if not isinstance(obj["stage_name"], str):
        raise bad("stage_name", "expected a string")
    if not isinstance(obj["data"], dict):
        raise bad("data", "expected an object")
    for k, v in obj["data"].items():
        if not isinstance(v, str) or not _HASH.match(v):
            raise bad(f"data.{k}", f'expected "<algorithm>:<hex digest>", got {v!r}')
    trainer = obj["trainer"]
    if not isinstance(trainer, dict):
        raise bad("trainer", "expected an object")
    for key in trainer:
        if key not in _TRAINER_FIELDS:
            raise bad(f"trainer.{key}", "unknown field")
    if trainer.get("engine") not in ENGINES:
        raise bad("trainer.engine", f"expected one of {ENGINES}, got {trainer.get('engine')!r}")
    if not isinstance(trainer.get("runtime"), str):
        raise bad("trainer.runtime", "expected a string")
    _int(trainer.get("world_size"), "trainer.world_size", bad, minimum=1)
    from .spec import DistillSpec, SpecError, parse_spec
    try:
        spec, _ = parse_spec(obj["spec"], f"{source}: spec")
    except SpecError as e:
        raise ManifestError(str(e)) from None
    if not isinstance(spec, DistillSpec):
        raise bad("spec.kind", f"expected 'distill', got {spec.kind!r}")
    if obj["stage"] >= len(spec.stages):
        raise bad("stage", f"{obj['stage']} is not in spec.stages ({len(spec.stages)} stages)")
    return obj


def _int(v: Any, field: str, bad: Any, minimum: Optional[int]) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        raise bad(field, f"expected an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise bad(field, f"must be >= {minimum} (got {v})")
