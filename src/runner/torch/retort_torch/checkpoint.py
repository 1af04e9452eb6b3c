"""Checkpoints: JOB_DIR/checkpoints/step-N/, written whole into .tmp-step-N/ and renamed (atomic on
one filesystem), so a reader — or a worker killed mid-write — only ever sees complete checkpoints.

    step-N/
      config.json model.safetensors generation_config.json tokenizer*.json …   full fine-tuning (HF)
      adapter_config.json adapter_model.safetensors                          LoRA (PEFT)
      trainer_state.pt       optimizer, RNG, step, stage, data cursor, projections, counters
      run_manifest.json      resolved spec, seed, data hashes, code version, step, time (run_manifest.py)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import protocol as P

# Files copied from the student's folder so a checkpoint loads as a whole model in transformers,
# vLLM and the tab (tokenizer and chat template included).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "added_tokens.json", "tokenizer.model", "chat_template.jinja", "chat_template.json")


def checkpoints_dir(job_dir: str) -> str:
    return os.path.join(job_dir, P.CHECKPOINTS_DIR)


def step_dir(job_dir: str, step: int) -> str:
    return os.path.join(checkpoints_dir(job_dir), f"{P.STEP_PREFIX}{step}")


def list_checkpoints(job_dir: str) -> List[Tuple[int, str]]:
    """(step, path) of complete checkpoints, oldest first; temporary folders are not checkpoints."""
    root = checkpoints_dir(job_dir)
    if not os.path.isdir(root):
        return []
    out = []
    for name in os.listdir(root):
        if name.startswith(P.STEP_PREFIX) and name[len(P.STEP_PREFIX):].isdigit():
            out.append((int(name[len(P.STEP_PREFIX):]), os.path.join(root, name)))
    return sorted(out)


def write_atomic(job_dir: str, step: int, fill: Callable[[str], None]) -> str:
    """Run `fill(tmp_folder)`, flush it to disk, then rename it to step-N. Returns the final path."""
    root = checkpoints_dir(job_dir)
    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f"{P.TMP_PREFIX}{step}")
    final = step_dir(job_dir, step)
    if os.path.exists(tmp):
        shutil.rmtree(tmp)  # left by a worker killed mid-write
    os.makedirs(tmp)
    fill(tmp)
    for name in os.listdir(tmp):
        _fsync(os.path.join(tmp, name))
    _fsync(tmp)
    if os.path.exists(final):  # the same step written again (a resumed run stopping at once)
        old = os.path.join(root, f".old-{P.STEP_PREFIX}{step}-{os.getpid()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)
    _fsync(root)
    return final


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # directories cannot be fsynced on every platform
    finally:
        os.close(fd)


def prune(job_dir: str, keep_last: int) -> List[str]:
    """Delete all but the newest `keep_last` checkpoints; returns what was removed."""
    removed = []
    for _, path in list_checkpoints(job_dir)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))


def copy_tokenizer_files(src: str, dst: str) -> List[str]:
    copied = []
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
            copied.append(name)
    return copied


def write_generation_config(src: str, dst: str, bos: Any, eos: Any) -> None:
    """Copy the student's generation_config.json, else write one from config.json's token ids."""
    path = os.path.join(src, "generation_config.json")
    if os.path.isfile(path):
        shutil.copyfile(path, os.path.join(dst, "generation_config.json"))
        return
    cfg = {"_from_model_config": True, "bos_token_id": bos, "eos_token_id": eos}
    with open(os.path.join(dst, "generation_config.json"), "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in cfg.items() if v is not None}, f, indent=2)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


_CODE_VERSION: Optional[str] = None


def code_version() -> str:
    """`git describe` of the checkout the worker runs from, else the package version."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        here = os.path.dirname(os.path.abspath(__file__))
        try:
            out = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty", "--tags"],
                                 capture_output=True, text=True, timeout=5)
            _CODE_VERSION = out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else ""
        except (OSError, subprocess.SubprocessError):
            _CODE_VERSION = ""
        _CODE_VERSION = f"git:{_CODE_VERSION}" if _CODE_VERSION else "retort-torch 0.1.0"
    return _CODE_VERSION

