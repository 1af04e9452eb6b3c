"""What the job recipes share: model loading by dtype policy, precision, seeding, RNG state."""
from __future__ import annotations

import os
import random
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..config import load_config
from ..model import CausalLM, as_dtype, load_model
from ..spec import ModelRef


def stored_dtype(folder: str) -> torch.dtype:
    """The dtype config.json says the weights are stored in (float32 when it does not say)."""
    name = load_config(folder).extra.get("torch_dtype") or "float32"
    try:
        return as_dtype(str(name))
    except ValueError:
        return torch.float32


def compute_dtype(device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on CUDA when the GPU has it; fp32 on CPU (None = no autocast)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def load_frozen(ref: ModelRef, device: torch.device) -> CausalLM:
    """A model for inference (teacher, generation, eval): the requested dtype, else as stored on
    CUDA and fp32 on CPU (bf16 matmuls are slow there)."""
    if ref.dtype is not None:
        dtype = as_dtype(ref.dtype)
    elif device.type == "cuda":
        dtype = stored_dtype(ref.path)
    else:
        dtype = torch.float32
    model = load_model(ref.path, dtype=dtype, device=device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve(path: str) -> str:
    """Spec paths are absolute or relative to the worker's cwd (the runner's workspace)."""
    return path if os.path.isabs(path) else os.path.abspath(path)
