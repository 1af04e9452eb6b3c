"""Quantization-aware training: weights fake-quantized in the forward pass, straight-through gradient.

For a weight W [out, in], symmetric:  s = max|W_g| / qmax per group g, W_q = clamp(round(W / s), −qmax−1, qmax) · s
                          asymmetric: s = (max W_g − min W_g) / (2^bits − 1), z = round(−min W_g / s),
                                      W_q = (clamp(round(W / s) + z, 0, 2^bits − 1) − z) · s
with qmax = 2^(bits−1) − 1 and round half to even (torch.round). Groups: int8 with perChannel is one
group per output row (else one for the whole tensor); int4 takes `groupSize` consecutive inputs of a
row. The forward uses W + (W_q − W).detach(): the value of W_q, the gradient of W (STE). Every
nn.Linear inside the decoder layers is quantized; embeddings and lm_head stay in full precision.
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
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        s = (g.abs().amax(-1, keepdim=True) / qmax).clamp(min=tiny)
        q = torch.clamp(torch.round(g / s), -qmax - 1, qmax) * s
    else:
        levels = 2 ** bits - 1
        lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
        s = ((hi - lo) / levels).clamp(min=tiny)
        z = torch.round(-lo / s)
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


def apply_qat(model: nn.Module, cfg: Qat) -> List[str]:
    """Swap the decoder layers' plain nn.Linear modules for FakeQuantLinear; returns their names.
    (LoRA layers keep their own path: QAT with LoRA quantizes nothing the adapter adds.)"""
    swapped = []
    for name, module in list(model.named_modules()):
        if type(module) is nn.Linear and ".layers." in f".{name}":
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, FakeQuantLinear(module, cfg))
            swapped.append(name)
    return swapped


def remove_qat(model: nn.Module) -> None:
    """Back to plain nn.Linear (the saved checkpoint holds the full-precision weights)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, FakeQuantLinear):
            plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, device=torch.device("meta"))
            plain.weight, plain.bias = module.weight, module.bias
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, plain)
