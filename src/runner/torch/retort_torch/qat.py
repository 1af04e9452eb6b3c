"""Quantization-aware training: weights fake-quantized in the forward pass, straight-through gradient.

The grid is defined once per language; this is the Python copy of src/core/quant.ts (read its header
for the reasons) and must stay identical to it, operation for operation, in float32:

  groups      int4: `groupSize` consecutive inputs of one output row; int8: one output row
              (perChannel) or the whole matrix
  symmetric   s = max(max|W_g| · fl(1/qmax), FLT_MIN), qmax = 2^(bits−1) − 1, W_q = clamp(round(W / s), −qmax, qmax) · s
  asymmetric  lo = min(min W_g, 0), hi = max(max W_g, 0), s = max((hi − lo) · fl(1/(2^bits − 1)), FLT_MIN),
              z = clamp(round(−lo / s), 0, 2^bits − 1), W_q = (clamp(round(W / s) + z, 0, 2^bits − 1) − z) · s
  round       half to even (torch.round, WGSL round())
  fl(1/n)     the float32 nearest 1/n: scales are products, rounded alike on every device (WGSL's
              division may be 2.5 ulp off, its product is exact)

The forward uses W + (W_q − W).detach(): the value of W_q, the gradient of W everywhere (STE; every
weight lies inside its own group's range, so there is nothing outside it to mask). Every nn.Linear
inside the decoder layers is quantized; embeddings and lm_head stay in full precision.
`round_to_grid` applies the same grid once, in place: post-training quantization (PTQ).
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spec import Qat


def fake_quantize(w: torch.Tensor, bits: int, group_size: int, symmetric: bool, per_channel: bool) -> torch.Tensor:
    out_f, in_f = w.shape
    if bits == 4:
        if in_f % group_size:
            raise ValueError(f"qat: input size {in_f} is not a multiple of groupSize {group_size}")
        g = w.reshape(out_f, in_f // group_size, group_size)  # [out, groups, size]
    elif per_channel:
        g = w.reshape(out_f, 1, in_f)
    else:
        g = w.reshape(1, 1, -1)
    tiny = torch.finfo(torch.float32).tiny
    fl = lambda x: torch.tensor(x, dtype=torch.float32, device=w.device)  # noqa: E731 (f32 constant: an f32 product)
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        s = (g.abs().amax(-1, keepdim=True) * fl(1 / qmax)).clamp(min=tiny)
        q = torch.clamp(torch.round(g / s), -qmax, qmax) * s
    else:
        levels = 2 ** bits - 1
        lo, hi = g.amin(-1, keepdim=True).clamp(max=0), g.amax(-1, keepdim=True).clamp(min=0)
        s = ((hi - lo) * fl(1 / levels)).clamp(min=tiny)
        z = torch.clamp(torch.round(-lo / s), 0, levels)
        q = (torch.clamp(torch.round(g / s) + z, 0, levels) - z) * s
    return q.reshape(w.shape)


class FakeQuantLinear(nn.Linear):
    """Shares weight and bias with the linear it replaces; quantizes on the fly."""

    def __init__(self, base: nn.Linear, cfg: Qat) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self.qat = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        wq = fake_quantize(w.float(), self.qat.bits, self.qat.group_size, self.qat.symmetric, self.qat.per_channel).to(w.dtype)
        return F.linear(x, w + (wq - w).detach(), self.bias)


def quantized_linears(model: nn.Module) -> List[str]:
    """The decoder layers' plain nn.Linear modules: the ones QAT trains on the grid and PTQ rounds."""
    return [name for name, module in model.named_modules() if type(module) is nn.Linear and ".layers." in f".{name}"]


@torch.no_grad()
def round_to_grid(model: nn.Module, cfg: Qat) -> List[str]:
    """Post-training quantization: every quantized linear's weight replaced by its grid value, in place."""
    names = quantized_linears(model)
    for name in names:
        w = model.get_submodule(name).weight
        w.copy_(fake_quantize(w.float(), cfg.bits, cfg.group_size, cfg.symmetric, cfg.per_channel).to(w.dtype))
    return names


def apply_qat(model: nn.Module, cfg: Qat) -> List[str]:
    """Swap the decoder layers' plain nn.Linear modules for FakeQuantLinear; returns their names.
    Every grid is checked first, so a bad groupSize names its tensor before any step runs."""
    if any(".lora_" in name for name, _ in model.named_modules()):
        # LoRALinear is not swapped (its base would train unquantized, its A/B quantized): refused, as in the engine
        raise ValueError("qat: not supported together with lora (merge the adapter first, then train with qat)")
    swapped = quantized_linears(model)
    for name in swapped:
        in_f = model.get_submodule(name).in_features
        if cfg.bits == 4 and in_f % cfg.group_size:
            raise ValueError(f"{name}.weight: input size {in_f} is not a multiple of qat.groupSize {cfg.group_size} "
                             "(int4 groups run along the input dimension)")
    for name in swapped:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, FakeQuantLinear(model.get_submodule(name), cfg))
    return swapped


def remove_qat(model: nn.Module) -> None:
    """Back to plain nn.Linear (the saved checkpoint holds the full-precision weights)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, FakeQuantLinear):
            plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, device=torch.device("meta"))
            plain.weight, plain.bias = module.weight, module.bias
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, plain)
