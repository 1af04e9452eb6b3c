"""QAT in the torch worker: fake_quantize against a plain loop over the grid of src/core/quant.ts,
the straight-through gradient by hand, PTQ rounding, and the errors. The engine's side of the same
definition is checked in test/engine/qat-vs-torch.test.ts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from retort_torch.make_tiny import make_tiny
from retort_torch.model import apply_lora, load_model
from retort_torch.qat import FakeQuantLinear, apply_qat, fake_quantize, quantized_linears, round_to_grid
from retort_torch.spec import Qat

f32 = np.float32


def round_half_even(x: float) -> float:
    return float(np.round(x))  # numpy rounds half to even


def loop_reference(w: np.ndarray, cfg: Qat) -> np.ndarray:
    """The grid element by element in numpy float32, written from src/core/quant.ts's header."""
    out_f, in_f = w.shape
    size = cfg.group_size if cfg.bits == 4 else (in_f if cfg.per_channel else out_f * in_f)
    flat, res = w.reshape(-1), np.empty(w.size, dtype=f32)
    tiny = np.finfo(f32).tiny
    for base in range(0, w.size, size):
        g = flat[base:base + size]
        if cfg.symmetric:
            qmax = 2 ** (cfg.bits - 1) - 1
            s = max(f32(np.abs(g).max()) * f32(1 / qmax), tiny)
            for i, v in enumerate(g):
                res[base + i] = f32(min(qmax, max(-qmax, round_half_even(f32(v / s))))) * f32(s)
        else:
            levels = 2 ** cfg.bits - 1
            lo, hi = min(f32(g.min()), f32(0)), max(f32(g.max()), f32(0))
            s = max(f32(f32(hi - lo) * f32(1 / levels)), tiny)
            z = min(levels, max(0, round_half_even(f32(-lo / s))))
            for i, v in enumerate(g):
                res[base + i] = f32(min(levels, max(0, round_half_even(f32(v / s)) + z)) - z) * f32(s)
    return res.reshape(w.shape)


GRIDS = [Qat(8, 128, True, True), Qat(8, 128, False, False), Qat(4, 32, True, True), Qat(4, 128, False, True)]


@pytest.mark.parametrize("cfg", GRIDS, ids=lambda c: f"int{c.bits}-g{c.group_size}-{'sym' if c.symmetric else 'asym'}")
def test_fake_quantize_matches_a_loop_reference(cfg):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 256, generator=g) * 0.05
    w[0] = w[0].abs() + 0.01  # a row without negative weights: the range still holds 0
    w[1, :32] = 0  # an all-zero group stays zero
    got = fake_quantize(w, cfg.bits, cfg.group_size, cfg.symmetric, cfg.per_channel)
    want = loop_reference(w.numpy(), cfg)
    worst = (got - torch.from_numpy(want)).abs().max().item()
    print(f"qat {cfg}: worst difference {worst:.2e}, levels used {got.unique().numel()}")
    assert worst == 0.0
    size = cfg.group_size if cfg.bits == 4 else (256 if cfg.per_channel else 6 * 256)
    assert max(grp.unique().numel() for grp in got.reshape(-1, size)) <= 2 ** cfg.bits  # each group on its own grid


def test_straight_through_gradient_by_hand():
    # W = [[0.7, −0.35], [1, 0.26]], int4 symmetric, one group per row: s = 0.1 and 1/7, so
    # Ŵ = [[0.7, −0.4 (−3.5 → −4)], [1, 2/7 (1.82 → 2)]]
    lin = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.7, -0.35], [1.0, 0.26]]))
    fq = FakeQuantLinear(lin, Qat(4, 2, True, True))
    x = torch.tensor([[1.0, 2.0], [-1.0, 3.0]], requires_grad=True)
    dy = torch.tensor([[1.0, 0.5], [-2.0, 1.0]])
    fq(x).backward(dy)
    wq = torch.tensor([[0.7, -0.4], [1.0, 2 / 7]])
    assert torch.allclose(lin.weight.grad, torch.tensor([[3.0, -4.0], [-0.5, 4.0]]))  # dyᵀ x: untouched by rounding
    assert torch.allclose(x.grad, dy @ wq, atol=1e-6)  # through the rounded weights


def test_apply_qat_and_ptq_touch_only_the_decoder_projections(tmp_path):
    make_tiny(str(tmp_path / "m"), "qwen2", seed=4)
    model = load_model(str(tmp_path / "m"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = Qat(4, 32, False, True)
    names = round_to_grid(model, cfg)
    assert names == quantized_linears(model) and len(names) == 7 * model.config.num_hidden_layers
    for k, v in model.state_dict().items():
        changed = not torch.equal(v, before[k])
        assert changed == any(k == f"{n}.weight" for n in names), k  # embeddings, lm_head, norms, biases unchanged
        if changed:
            assert torch.equal(v, fake_quantize(before[k], 4, 32, False, True))
    swapped = apply_qat(load_model(str(tmp_path / "m")), cfg)
    assert swapped == names


def test_errors_name_the_tensor(tmp_path):
    make_tiny(str(tmp_path / "m"), "qwen2", seed=5)
    model = load_model(str(tmp_path / "m"))
    width = model.config.hidden_size
    with pytest.raises(ValueError, match=rf"model\.layers\.0\.self_attn\.q_proj\.weight: input size {width} is not a multiple of qat\.groupSize 128"):
        apply_qat(model, Qat(4, 128, True, True))
    apply_lora(model, 4, 8.0, 0.0, ["q_proj"])
    with pytest.raises(ValueError, match="not supported together with lora"):
        apply_qat(model, Qat(8, 128, True, True))
