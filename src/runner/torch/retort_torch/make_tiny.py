"""Random tiny checkpoints in HF layout, for tests on both sides of the language boundary.

    python3 -m retort_torch.make_tiny --arch qwen2|qwen3|llama --out DIR --seed N
        [--vocab V --hidden C --layers L --heads H --kv-heads K --intermediate I --head-dim D --tie]
        [--rope-theta F --rope-scaling JSON] [--dtype f32|f16|bf16]

Deterministic for a seed (a CPU generator draws every tensor in checkpoint-name order). Weights are
N(0, 0.02); norm weights 1 ± 0.1 and biases N(0, 0.1) so a forgotten norm weight or bias shows.

    python3 -m retort_torch.make_tiny --arch qwen2 --successor '{"10": 92, ...}' --eos 258 --vocab V --out DIR

writes instead a model whose next token depends only on the last one (`successor_model`): known
text for generation tests, from any tokenizer whose ids the caller knows.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional

import torch

from .config import ModelConfig, parse_config, save_config
from .model import CausalLM, DTYPE_NAMES, as_dtype
from .safetensors_io import save_checkpoint


def tiny_config(arch: str, vocab: int = 128, hidden: int = 64, layers: int = 2, heads: int = 4,
                kv_heads: int = 2, intermediate: int = 96, head_dim: Optional[int] = None, tie: bool = False,
                rope_theta: float = 10000.0, rope_scaling: Optional[Dict[str, Any]] = None,
                max_positions: int = 2048) -> ModelConfig:
    hf: Dict[str, Any] = {
        "model_type": arch, "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "intermediate_size": intermediate,
        "tie_word_embeddings": tie, "rope_theta": rope_theta, "rope_scaling": rope_scaling,
        "max_position_embeddings": max_positions, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "bos_token_id": 1, "eos_token_id": 2,
    }
    if head_dim is not None or arch == "qwen3":
        hf["head_dim"] = head_dim if head_dim is not None else hidden // heads
    if arch == "llama":  # exercise every bias llama can have
        hf["attention_bias"], hf["mlp_bias"] = True, True
    return parse_config(hf, f"tiny {arch} config")


def random_state(cfg: ModelConfig, seed: int) -> Dict[str, torch.Tensor]:
    """fp32 tensors under HF names (tied lm_head omitted)."""
    shapes = CausalLM(cfg, device=torch.device("meta")).state_dict()
    g = torch.Generator().manual_seed(seed)
    out: Dict[str, torch.Tensor] = {}
    for name in sorted(shapes):
        if cfg.tie_word_embeddings and name == "lm_head.weight":
            continue
        shape = tuple(shapes[name].shape)
        if name.endswith("norm.weight"):
            out[name] = 1.0 + 0.2 * (torch.rand(shape, generator=g) - 0.5)
        elif name.endswith(".bias"):
            out[name] = 0.1 * torch.randn(shape, generator=g)
        else:
            out[name] = 0.02 * torch.randn(shape, generator=g)
    return out


def make_tiny(out: str, arch: str = "qwen2", seed: int = 0, dtype: str = "f32", **dims: Any) -> ModelConfig:
    """Write config.json + model.safetensors to `out`; returns the config."""
    cfg = tiny_config(arch, **dims)
    torch_dtype = as_dtype(dtype)
    cfg.extra["torch_dtype"] = DTYPE_NAMES[torch_dtype]
    state = {k: v.to(torch_dtype) for k, v in random_state(cfg, seed).items()}
    save_config(cfg, out)
    save_checkpoint(state, out)
    return cfg


def successor_model(out: str, successor: Dict[int, int], eos: int, vocab: int, arch: str = "qwen2") -> ModelConfig:
    """A checkpoint that continues token i with successor[i] (eos when i has none): the
    embedding is one-hot (hidden = vocab, rounded up to even for RoPE), the one layer adds nothing
    (o_proj, down_proj = 0), and lm_head maps i to its successor with a logit margin of 2·√hidden
    (RMSNorm of a one-hot row) — so greedy decoding and sampling at R1's T = 0.6 agree."""
    hidden = vocab + vocab % 2
    cfg = tiny_config(arch, vocab=vocab, hidden=hidden, layers=1, heads=1, kv_heads=1, intermediate=8)
    cfg.eos_token_id, cfg.bos_token_id = eos, None
    cfg.extra["torch_dtype"] = "float32"
    shapes = CausalLM(cfg, device=torch.device("meta")).state_dict()
    state = {k: (torch.ones if k.endswith("norm.weight") else torch.zeros)(v.shape) for k, v in shapes.items()}
    state["model.embed_tokens.weight"] = torch.eye(vocab, hidden)
    head = torch.zeros(vocab, hidden)
    for i in range(vocab):
        head[successor.get(i, eos), i] = 2.0
    state["lm_head.weight"] = head
    save_config(cfg, out)
    save_checkpoint(state, out)
    return cfg


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m retort_torch.make_tiny", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["qwen2", "qwen3", "llama"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab", type=int, default=128)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=96)
    p.add_argument("--head-dim", type=int, default=None)
    p.add_argument("--tie", action="store_true")
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--rope-scaling", type=json.loads, default=None, help='e.g. {"rope_type":"linear","factor":2}')
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--successor", type=json.loads, default=None, help='{"id": next_id, ...}: a successor_model')
    p.add_argument("--eos", type=int, default=2, help="with --successor: the id every other token continues with")
    a = p.parse_args(argv)
    if a.successor is not None:
        cfg = successor_model(a.out, {int(k): int(v) for k, v in a.successor.items()}, a.eos, a.vocab, a.arch)
        print(json.dumps({"out": a.out, "model_type": cfg.model_type, "dtype": "f32"}))
        return 0
    cfg = make_tiny(a.out, a.arch, a.seed, a.dtype, vocab=a.vocab, hidden=a.hidden, layers=a.layers, heads=a.heads,
                    kv_heads=a.kv_heads, intermediate=a.intermediate, head_dim=a.head_dim, tie=a.tie,
                    rope_theta=a.rope_theta, rope_scaling=a.rope_scaling)
    print(json.dumps({"out": a.out, "model_type": cfg.model_type, "dtype": a.dtype}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
