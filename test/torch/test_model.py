"""The decoder against hand formulas and a plain numpy float64 re-derivation of HF's Qwen2/Qwen3/Llama."""
import json
import math

import numpy as np
import pytest
import torch

from retort_torch.config import RopeScaling
from retort_torch.generate import generate
from retort_torch.make_tiny import make_tiny, random_state, tiny_config
from retort_torch.model import (
    HAS_SDPA,
    CausalLM,
    KVCache,
    RMSNorm,
    apply_lora,
    apply_rope,
    load_lora,
    load_model,
    merge_lora,
    rope_cos_sin,
    rope_inv_freq,
    save_lora,
    save_model,
)
from retort_torch.safetensors_io import SafetensorsError, load_file, save_file

ARCHS = ["qwen2", "qwen3", "llama"]


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One checkpoint per arch; qwen3 with a head_dim different from hidden/heads."""
    dirs = {}
    for arch in ARCHS:
        d = tmp_path_factory.mktemp(arch)
        extra = {"head_dim": 24} if arch == "qwen3" else {}
        make_tiny(str(d), arch, seed=7, vocab=96, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=80,
                  tie=arch == "qwen3", **extra)
        dirs[arch] = str(d)
    return dirs


# ---- pieces against hand formulas ---------------------------------------------------------------

def test_rmsnorm_hand_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 16, generator=g)
    norm = RMSNorm(16, 1e-6)
    norm.weight.data = torch.rand(16, generator=g) + 0.5
    xd, w = x.double().numpy(), norm.weight.double().detach().numpy()
    want = xd / np.sqrt((xd ** 2).mean(-1, keepdims=True) + 1e-6) * w
    got = norm(x).detach()
    print("rmsnorm worst rel diff", rel(got, want))
    assert rel(got, want) < 1e-6


def test_rope_hand_formula():
    # pair (i, i + D/2) rotates by angle pos * theta^(-2i/D)
    d, theta = 8, 10000.0
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, d, generator=g)  # [B, H, T, D]
    pos = torch.tensor([[0, 1, 2, 7, 100]])
    inv, factor = rope_inv_freq(d, theta, None, 2048)
    cos, sin = rope_cos_sin(inv, pos, factor, torch.float32)
    got = apply_rope(x, cos, sin)
    want = np.zeros((1, 2, 5, d))
    xd = x.double().numpy()
    for t, p in enumerate(pos[0].tolist()):
        for i in range(d // 2):
            a = p * theta ** (-2 * i / d)
            x1, x2 = xd[0, :, t, i], xd[0, :, t, i + d // 2]
            want[0, :, t, i] = x1 * math.cos(a) - x2 * math.sin(a)
            want[0, :, t, i + d // 2] = x2 * math.cos(a) + x1 * math.sin(a)
    print("rope worst rel diff", rel(got, want))
    assert rel(got, want) < 1e-5


def test_rope_linear_and_llama3_scaling():
    d, theta = 64, 500000.0
    base, _ = rope_inv_freq(d, theta, None, 131072)
    lin, _ = rope_inv_freq(d, theta, RopeScaling("linear", factor=4.0), 2048)
    assert rel(lin, base / 4) < 1e-7
    # Meta's reference `apply_scaling` from llama3.1's model.py, as plain Python
    s = RopeScaling("llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
    got, factor = rope_inv_freq(d, theta, s, 131072)
    want = []
    for f in base.double().tolist():
        wavelen = 2 * math.pi / f
        if wavelen < 8192 / 4.0:
            want.append(f)
        elif wavelen > 8192 / 1.0:
            want.append(f / 8.0)
        else:
            smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0)
            want.append((1 - smooth) * f / 8.0 + smooth * f)
    print("llama3 inv_freq worst rel diff", rel(got, want))
    assert factor == 1.0 and rel(got, want) < 1e-6


def test_rope_yarn_properties():
    # YaRN: frequencies that turn more than beta_fast times over the original context are kept,
    # fewer than beta_slow times are divided by the factor; cos/sin scale by 0.1 ln(s) + 1.
    d, theta, original = 64, 10000.0, 4096
    s = RopeScaling("yarn", factor=4.0, original_max_position_embeddings=original, truncate=False)
    base, _ = rope_inv_freq(d, theta, None, original)
    got, factor = rope_inv_freq(d, theta, s, 16384)
    rotations = original * base.double() / (2 * math.pi)
    fast, slow = rotations > 32 * 1.2, rotations < 1 / 1.2  # margins: the ramp is linear in the index
    assert rel(got[fast], base[fast]) < 1e-6 and rel(got[slow], base[slow] / 4) < 1e-6
    mid = ~fast & ~slow
    assert bool(((got[mid] <= base[mid] + 1e-12) & (got[mid] >= base[mid] / 4 - 1e-12)).all())
    assert abs(factor - (0.1 * math.log(4.0) + 1)) < 1e-12


# ---- the whole forward against an independent numpy float64 derivation -------------------------

def numpy_forward(state, cfg, ids):
    """Plain loops over heads and positions, float64; HF semantics written out from the papers."""
    W = {k: v.double().numpy() for k, v in state.items()}
    H, K, D, eps = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.rms_norm_eps

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    def norm(x, name):
        return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps) * W[name]

    def rope(v, p):  # v [D] at position p
        out = np.empty_like(v)
        for i in range(D // 2):
            a = p / cfg.rope_theta ** (2 * i / D)
            out[i] = v[i] * math.cos(a) - v[i + D // 2] * math.sin(a)
            out[i + D // 2] = v[i + D // 2] * math.cos(a) + v[i] * math.sin(a)
        return out

    x = W["model.embed_tokens.weight"][ids]  # [T, C]
    T = len(ids)
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        h = norm(x, p + "input_layernorm.weight")
        q = lin(h, p + "self_attn.q_proj").reshape(T, H, D)
        k = lin(h, p + "self_attn.k_proj").reshape(T, K, D)
        v = lin(h, p + "self_attn.v_proj").reshape(T, K, D)
        if cfg.qk_norm:
            q, k = norm(q, p + "self_attn.q_norm.weight"), norm(k, p + "self_attn.k_norm.weight")
        q = np.stack([[rope(q[t, hh], t) for hh in range(H)] for t in range(T)])
        k = np.stack([[rope(k[t, kk], t) for kk in range(K)] for t in range(T)])
        att = np.zeros((T, H, D))
        for hh in range(H):
            kv = hh // (H // K)
            for t in range(T):
                s = np.array([q[t, hh] @ k[j, kv] / math.sqrt(D) for j in range(t + 1)])
                w = np.exp(s - s.max())
                w /= w.sum()
                att[t, hh] = sum(w[j] * v[j, kv] for j in range(t + 1))
        x = x + lin(att.reshape(T, H * D), p + "self_attn.o_proj")
        h = norm(x, p + "post_attention_layernorm.weight")
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = norm(x, "model.norm.weight")
    head = W["model.embed_tokens.weight"] if cfg.tie_word_embeddings else W["lm_head.weight"]
    return x @ head.T  # [T, V]


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_matches_numpy_derivation(tiny, arch):
    model = load_model(tiny[arch])
    state = load_file(tiny[arch] + "/model.safetensors")
    ids = [3, 17, 1, 95, 42, 8]
    want = numpy_forward(state, model.config, ids)
    got = model(torch.tensor([ids])).logits[0].detach()
    print(f"{arch} forward vs numpy float64: worst rel diff {rel(got, want):.2e}")
    assert rel(got, want) < 1e-5


def test_tiny_checkpoint_has_the_right_tensors(tiny):
    q2 = load_file(tiny["qwen2"] + "/model.safetensors")
    assert "model.layers.0.self_attn.q_proj.bias" in q2 and "model.layers.0.self_attn.o_proj.bias" not in q2
    assert "lm_head.weight" in q2
    q3 = load_file(tiny["qwen3"] + "/model.safetensors")
    assert q3["model.layers.1.self_attn.q_norm.weight"].shape == (24,) and "lm_head.weight" not in q3
    assert q3["model.layers.0.self_attn.q_proj.weight"].shape == (4 * 24, 64)
    ll = load_file(tiny["llama"] + "/model.safetensors")
    assert "model.layers.0.mlp.down_proj.bias" in ll and "model.layers.0.self_attn.o_proj.bias" in ll
    # deterministic per seed, different across seeds
    again = random_state(tiny_config("qwen2", vocab=96, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=80), 7)
    assert all(torch.equal(again[k], q2[k]) for k in q2)
    other = random_state(tiny_config("qwen2", vocab=96, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=80), 8)
    assert not torch.equal(other["model.embed_tokens.weight"], q2["model.embed_tokens.weight"])


# ---- behaviour --------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_causal_mask(tiny, arch):
    model = load_model(tiny[arch])
    a = torch.tensor([[5, 6, 7, 8, 9, 10]])
    b = a.clone()
    b[0, 4] = 77
    la, lb = model(a).logits.detach(), model(b).logits.detach()
    assert torch.equal(la[0, :4], lb[0, :4])
    assert (la[0, 4:] - lb[0, 4:]).abs().max() > 1e-4  # and the later ones do see the change


@pytest.mark.parametrize("arch", ARCHS)
def test_kv_cache_matches_full_forward(tiny, arch):
    model = load_model(tiny[arch])
    ids = torch.tensor([[4, 9, 2, 33, 61, 5, 12, 70], [1, 1, 8, 90, 3, 44, 44, 2]])
    full = model(ids, output_hidden_states=True)
    cache = KVCache()
    steps = [model(ids[:, :3], past_key_values=cache).logits]
    for t in range(3, ids.shape[1]):
        out = model(ids[:, t:t + 1], past_key_values=cache)
        assert out.past_key_values is cache and cache.seq_len() == t + 1
        steps.append(out.logits)
    got = torch.cat(steps, dim=1).detach()
    worst = rel(got, full.logits.detach())
    print(f"{arch} kv-cache vs full: worst rel diff {worst:.2e}")
    assert worst < 1e-5
    assert len(full.hidden_states) == model.config.num_hidden_layers + 1
    assert torch.equal(full.hidden_states[-1], full.last_hidden_state)


def test_left_padding_with_positions_matches_unpadded(tiny):
    model = load_model(tiny["qwen2"])
    row = torch.tensor([[7, 8, 9, 10]])
    padded = torch.tensor([[0, 0, 7, 8, 9, 10]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    alone = model(row).logits.detach()
    batched = model(padded, attention_mask=mask, position_ids=positions).logits.detach()
    assert torch.isfinite(batched).all()
    worst = rel(batched[:, 2:], alone)
    print(f"left padding vs alone: worst rel diff {worst:.2e}")
    assert worst < 1e-5


def test_gqa_equals_mha_with_repeated_kv_heads(tiny):
    gqa = load_model(tiny["llama"])  # 4 heads, 2 kv heads
    cfg = gqa.config
    mha_cfg = tiny_config("llama", vocab=96, hidden=64, layers=2, heads=4, kv_heads=4, intermediate=80)
    mha = CausalLM(mha_cfg)
    state = gqa.state_dict()
    rep, D = cfg.num_attention_heads // cfg.num_key_value_heads, cfg.head_dim
    for name in list(state):
        if ".k_proj." in name or ".v_proj." in name:
            t = state[name]  # [K*D, ...]: kv head j serves query heads j*rep .. j*rep+rep-1
            state[name] = t.reshape(cfg.num_key_value_heads, D, *t.shape[1:]).repeat_interleave(rep, 0).reshape(-1, *t.shape[1:])
    mha.load_state_dict(state)
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    worst = rel(gqa(ids).logits.detach(), mha(ids).logits.detach())
    print(f"GQA vs MHA with repeated kv: worst rel diff {worst:.2e}")
    assert worst < 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_round_trip(tiny, tmp_path, arch):
    model = load_model(tiny[arch])
    save_model(model, str(tmp_path))
    back = load_model(str(tmp_path))
    ids = torch.tensor([[5, 50, 15]])
    assert torch.equal(model(ids).logits, back(ids).logits)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == arch
    saved = set(load_file(str(tmp_path / "model.safetensors")))
    assert saved == set(load_file(tiny[arch] + "/model.safetensors"))
    # bf16 on disk, fp32 in memory: exactly the bf16-rounded weights
    save_model(model, str(tmp_path / "bf16"), dtype="bf16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    b16 = load_model(str(tmp_path / "bf16"))
    w = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(b16.state_dict()[w], model.state_dict()[w].bfloat16().float())


def test_load_errors_name_tensor(tiny, tmp_path):
    state = load_file(tiny["qwen2"] + "/model.safetensors")
    config = open(tiny["qwen2"] + "/config.json").read()
    cases = {
        "missing": ({k: v for k, v in state.items() if k != "model.norm.weight"}, "missing tensor 'model.norm.weight'"),
        "shape": ({**state, "model.norm.weight": torch.ones(3)}, "tensor 'model.norm.weight' has shape [3], config expects [64]"),
        "unexpected": ({**state, "model.layers.0.mlp.gate_proj.bias": torch.ones(80)}, "unexpected tensors for qwen2: model.layers.0.mlp.gate_proj.bias"),
    }
    for case, (tensors, message) in cases.items():
        d = tmp_path / case
        d.mkdir()
        (d / "config.json").write_text(config)
        save_file(tensors, str(d / "model.safetensors"))
        with pytest.raises(SafetensorsError) as e:
            load_model(str(d))
        assert message in str(e.value) and str(d) in str(e.value), str(e.value)


# ---- LoRA ---------------------------------------------------------------------------------------

def test_lora_zero_b_is_the_base_model_and_merge_is_exact(tiny):
    base = load_model(tiny["qwen3"])
    ids = torch.tensor([[9, 8, 7, 6, 5]])
    want = base(ids).logits.detach()
    model = load_model(tiny["qwen3"])
    wrapped = apply_lora(model, rank=4, alpha=8, targets=["q_proj", "v_proj", "down_proj"])
    assert len(wrapped) == 3 * model.config.num_hidden_layers
    assert torch.equal(model(ids).logits.detach(), want)  # B = 0
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    # non-zero B: compare with W + (alpha/r) B A built by hand into a plain copy
    g = torch.Generator().manual_seed(3)
    manual = load_model(tiny["qwen3"])
    with torch.no_grad():
        for name in wrapped:
            lora = model.get_submodule(name)
            lora.lora_B.weight.copy_(torch.randn(lora.lora_B.weight.shape, generator=g) * 0.1)
            manual.get_submodule(name).weight += 2.0 * lora.lora_B.weight @ lora.lora_A.weight
    got = model(ids).logits.detach()
    assert (got - want).abs().max() > 1e-4
    worst = rel(got, manual(ids).logits.detach())
    merge_lora(model)
    worst_merged = rel(model(ids).logits.detach(), manual(ids).logits.detach())
    print(f"lora vs hand-merged: {worst:.2e}; merged: {worst_merged:.2e}")
    assert worst < 1e-5 and worst_merged < 1e-6
    assert not any(".lora_" in n for n, _ in model.named_parameters())


def test_lora_peft_layout_round_trip(tiny, tmp_path):
    model = load_model(tiny["qwen2"])
    apply_lora(model, rank=2, alpha=4, dropout=0.05)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    save_lora(model, str(tmp_path), base_model_name_or_path="tiny")
    cfg = json.loads((tmp_path / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 2 and cfg["lora_alpha"] == 4 and cfg["lora_dropout"] == 0.05
    assert sorted(cfg["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    w = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert w["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"].shape == (2, 64)  # [r, in]
    assert w["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"].shape == (64, 2)  # [out, r]
    assert len(w) == 2 * 4 * model.config.num_hidden_layers
    model.eval()  # dropout off for the comparison
    back = load_model(tiny["qwen2"])
    load_lora(back, str(tmp_path))
    back.eval()
    ids = torch.tensor([[2, 4, 6, 8]])
    assert torch.equal(model(ids).logits, back(ids).logits)


# ---- generation ---------------------------------------------------------------------------------

def test_greedy_generate_matches_argmax_of_full_forwards(tiny):
    model = load_model(tiny["llama"])
    prompt = torch.tensor([[1, 30, 31, 32]])
    got = generate(model, prompt, max_new_tokens=6)
    ids = prompt
    for _ in range(6):
        nxt = model(ids).logits[:, -1].argmax(-1)
        ids = torch.cat((ids, nxt[:, None]), dim=1)
    assert torch.equal(got, ids)
    # a left-padded batch gives each row what it gives alone
    other = torch.tensor([[1, 44]])
    batch = torch.tensor([[1, 30, 31, 32], [0, 0, 1, 44]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    both = generate(model, batch, max_new_tokens=4, attention_mask=mask)
    assert torch.equal(both[0, 4:], got[0, 4:8])
    assert torch.equal(both[1, 4:], generate(model, other, max_new_tokens=4)[0, 2:])


@pytest.mark.skipif(not HAS_SDPA, reason="torch < 2.0 has no scaled_dot_product_attention; eager is the only path")
def test_sdpa_matches_eager(tiny):
    model = load_model(tiny["qwen2"])
    ids = torch.tensor([[0, 5, 6, 7, 8]])
    mask = torch.tensor([[0, 1, 1, 1, 1]])
    model.attn_impl = "eager"
    eager = [model(ids).logits.detach(), model(ids, attention_mask=mask).logits.detach()]
    model.attn_impl = "sdpa"
    sdpa = [model(ids).logits.detach(), model(ids, attention_mask=mask).logits.detach()]
    assert rel(sdpa[0], eager[0]) < 1e-5 and rel(sdpa[1][:, 1:], eager[1][:, 1:]) < 1e-5


def test_sdpa_call_contract_with_a_plain_stand_in(tiny, monkeypatch):
    # torch 1.13 has no SDPA; a plain stand-in with SDPA's semantics (bool mask True = attend, -inf
    # elsewhere, same-dtype q/k/v) checks how the model calls it, including left-padded rows.
    calls = []

    def sdpa(q, k, v, attn_mask=None, is_causal=False):
        assert q.dtype == k.dtype == v.dtype and (attn_mask is None or attn_mask.dtype == torch.bool)
        calls.append(is_causal)
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if is_causal:
            attn_mask = torch.ones(s.shape[-2:], dtype=torch.bool).tril()
        s = s.masked_fill(~attn_mask, float("-inf"))
        return torch.softmax(s, -1) @ v

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", sdpa, raising=False)
    model = load_model(tiny["qwen3"])
    ids = torch.tensor([[0, 0, 5, 6, 7], [4, 3, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    eager = [model(ids).logits.detach(), model(ids, attention_mask=mask).logits.detach()]
    model.attn_impl = "sdpa"
    sdpa_out = [model(ids).logits.detach(), model(ids, attention_mask=mask).logits.detach()]
    assert calls and calls[0] is True and calls[-1] is False
    assert torch.isfinite(sdpa_out[1]).all()
    assert rel(sdpa_out[0], eager[0]) < 1e-6 and rel(sdpa_out[1][0, 2:], eager[1][0, 2:]) < 1e-6


def test_bf16_weights_sharded_checkpoint_and_autocast_helper(tiny, tmp_path):
    from retort_torch.model import autocast
    from retort_torch.safetensors_io import INDEX_FILE
    model = load_model(tiny["llama"])
    save_model(model, str(tmp_path), max_shard_bytes=40_000)
    assert (tmp_path / INDEX_FILE).exists() and len(list(tmp_path.glob("model-*.safetensors"))) > 1
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(load_model(str(tmp_path))(ids).logits, model(ids).logits)
    bf = load_model(tiny["llama"], dtype="bf16")
    assert bf.lm_head.weight.dtype == torch.bfloat16
    worst = rel(bf(ids).logits.float().detach(), model(ids).logits.detach())
    print(f"bf16 weights vs fp32: worst rel diff {worst:.1e}")
    assert worst < 0.05
    with autocast("cpu", torch.bfloat16):  # CPU keeps fp32 math: a no-op
        assert torch.equal(model(ids).logits, model(ids).logits)


def test_sampling_filters():
    from retort_torch.generate import process_logits
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    seen = torch.tensor([[0, 1]])
    pen = process_logits(logits, seen, 0.0, 0, 1.0, 2.0)  # HF: positive / p, negative * p
    assert pen.tolist() == [[1.0, -2.0, 0.5, 3.0, -2.0]]
    k2 = process_logits(logits, None, 1.0, 2, 1.0, 1.0)
    assert torch.isinf(k2).tolist() == [[False, True, True, False, True]]
    p = torch.softmax(logits, -1)[0]  # sorted: 3.0 (p≈.63), 2.0 (p≈.23), ...: top_p .7 keeps two
    tp = process_logits(logits, None, 1.0, 0, 0.7, 1.0)
    assert p[3] < 0.7 < p[3] + p[0] and torch.isfinite(tp).tolist() == [[True, False, False, True, False]]


def test_top_k_one_sampling_is_greedy(tiny):
    model = load_model(tiny["qwen2"])
    prompt = torch.tensor([[1, 2, 3]])
    g = torch.Generator().manual_seed(0)
    sampled = generate(model, prompt, 5, temperature=0.8, top_k=1, generator=g)
    assert torch.equal(sampled, generate(model, prompt, 5))
    first = int(sampled[0, 3])
    stopped = generate(model, prompt, 5, eos_token_ids=[first])
    assert stopped.tolist() == [[1, 2, 3, first]]


def test_gradient_checkpointing_gives_the_same_gradients(tiny):
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    grads = []
    for flag in (False, True):
        model = load_model(tiny["qwen2"])
        model.train()
        model.gradient_checkpointing = flag
        model(ids).logits.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    worst = max(rel(grads[1][n], grads[0][n]) for n in grads[0])
    print(f"gradient checkpointing: worst rel diff {worst:.1e}")
    assert worst < 1e-6
