"""The one Python decoder: Qwen2 / Qwen3 / Llama with Hugging Face transformers' numerics.

Module and parameter names are HF's, so `state_dict()` keys are checkpoint keys
(`model.layers.0.self_attn.q_proj.weight`, ...). The TypeScript engine's tests compare against this
file; the runner's worker trains with it.

Numerics that must match HF exactly:
  RMSNorm    in fp32: x * rsqrt(mean(x^2) + eps), cast back to the input dtype, then * weight
  RoPE       rotate_half (non-interleaved halves); inv_freq = 1 / theta^(2i/d) in fp32; cos/sin built
             in fp32 (times the yarn attention factor) and cast to the activation dtype
  attention  q·kᵀ / sqrt(head_dim), masked with finfo.min (not -inf), softmax in fp32
  MLP        down(silu(gate(x)) * up(x))
Shapes: B batch, T new tokens, S = past + T keys, C hidden, H heads, K kv heads, D head_dim, V vocab.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig, RopeScaling, load_config, save_config
from .safetensors_io import SafetensorsError, checkpoint_files, load_file, save_checkpoint, save_file

DTYPES: Dict[str, torch.dtype] = {
    "f32": torch.float32, "float32": torch.float32,
    "f16": torch.float16, "float16": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


def _math_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for norms and softmax, as HF does; float64 stays (for finite-difference tests)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def as_dtype(dtype: Union[str, torch.dtype, None]) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


# ---- RMSNorm ------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, device=device))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., dim] -> [..., dim]
        h = x.to(_math_dtype(x.dtype))
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


# ---- RoPE ---------------------------------------------------------------------------------------

def rope_inv_freq(dim: int, theta: float, scaling: Optional[RopeScaling], max_positions: int) -> Tuple[torch.Tensor, float]:
    """inv_freq [dim/2] (fp32) and the factor cos/sin are multiplied by (1 except for yarn),
    following transformers' modeling_rope_utils for default / linear / llama3 / yarn."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))  # [D/2]
    if scaling is None or scaling.rope_type == "default":
        return inv_freq, 1.0
    if scaling.rope_type == "linear":
        return inv_freq / scaling.factor, 1.0
    if scaling.rope_type == "llama3":
        old_ctx = scaling.original_max_position_embeddings or max_positions
        low_wavelen = old_ctx / scaling.low_freq_factor
        high_wavelen = old_ctx / scaling.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        # long wavelengths are interpolated by `factor`, short ones kept, the band between blended
        scaled = torch.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
        smooth = (old_ctx / wavelen - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor)
        smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled), 1.0
    if scaling.rope_type == "yarn":
        return _yarn(dim, theta, scaling, max_positions)
    raise ValueError(f"rope_scaling.rope_type {scaling.rope_type!r} is not supported")


def _yarn(dim: int, theta: float, s: RopeScaling, max_positions: int) -> Tuple[torch.Tensor, float]:
    factor = s.factor
    original = s.original_max_position_embeddings or max_positions

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = s.attention_factor
    if attention_factor is None:
        attention_factor = mscale(factor, s.mscale) / mscale(factor, s.mscale_all_dim) if s.mscale and s.mscale_all_dim else mscale(factor)

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(s.beta_fast), correction_dim(s.beta_slow)
    if s.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)  # [D/2]
    pos_freqs = theta ** (torch.arange(0, dim, 2).float() / dim)
    extrapolation = 1 - ramp  # 1 where wavelengths are short: keep the original frequency
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, float(attention_factor)


def rope_cos_sin(inv_freq: torch.Tensor, position_ids: torch.Tensor, attention_factor: float,
                 dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [B, T, D] for position_ids [B, T], built in fp32 like HF (autocast off)."""
    freqs = position_ids.float()[:, :, None] * inv_freq[None, None, :]  # [B, T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # [B, T, D]: the halves convention of rotate_half
    return (emb.cos() * attention_factor).to(dtype), (emb.sin() * attention_factor).to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, D], cos/sin [B, T, D]."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


# ---- KV cache -----------------------------------------------------------------------------------

class KVCache:
    """Per-layer keys/values [B, K, S, D], grown by concatenation (generation is short here)."""

    def __init__(self) -> None:
        self.keys: List[torch.Tensor] = []
        self.values: List[torch.Tensor] = []

    def seq_len(self) -> int:
        return 0 if not self.keys else self.keys[0].shape[2]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]


# ---- the decoder --------------------------------------------------------------------------------

def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: Optional[torch.Tensor], impl: str,
              keep_probs: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
    """q [B, H, T, D], k/v [B, H, S, D]; allowed [B|1, 1, T, S] bool, or None for plain causal (T == S).
    With `keep_probs` the eager path runs and appends the probabilities [B, H, T, S] (fp32)."""
    if impl == "sdpa" and keep_probs is None:
        q, k = q.to(v.dtype), k.to(v.dtype)  # under autocast q/k come out of fp32 norms and RoPE
        if allowed is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    scores = torch.matmul(q, k.transpose(2, 3)) * q.shape[-1] ** -0.5  # [B, H, T, S]
    if allowed is None:
        allowed = causal_mask(None, q.shape[2], 0, q.device)
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)  # finfo.min, not -inf, as HF
    probs = F.softmax(scores, dim=-1, dtype=_math_dtype(scores.dtype))
    if keep_probs is not None:
        keep_probs.append(probs)
    return torch.matmul(probs.to(v.dtype), v)  # [B, H, T, D]


def causal_mask(attention_mask: Optional[torch.Tensor], t: int, past: int, device: torch.device) -> torch.Tensor:
    """allowed [B|1, 1, T, S]: query i sees key j iff j <= past + i and attention_mask[b, j] = 1.
    A query always sees itself, so a padding row is never empty (SDPA would give NaN that later
    layers spread through the padded keys); padded positions' outputs are never read."""
    s = past + t
    q_pos = torch.arange(past, s, device=device)[:, None]  # [T, 1]
    k_pos = torch.arange(s, device=device)[None, :]  # [1, S]
    allowed = (k_pos <= q_pos)[None, None]  # [1, 1, T, S]
    if attention_mask is not None:
        allowed = allowed & (attention_mask[:, None, None, :].bool() | (k_pos == q_pos)[None, None])  # [B, 1, T, S]
    return allowed


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        c, h, k, d = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = h, k, d
        self.q_proj = nn.Linear(c, h * d, bias=cfg.qkv_bias, device=device)
        self.k_proj = nn.Linear(c, k * d, bias=cfg.qkv_bias, device=device)
        self.v_proj = nn.Linear(c, k * d, bias=cfg.qkv_bias, device=device)
        self.o_proj = nn.Linear(h * d, c, bias=cfg.o_bias, device=device)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(d, cfg.rms_norm_eps, device)
            self.k_norm = RMSNorm(d, cfg.rms_norm_eps, device)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: Optional[torch.Tensor],
                cache: Optional[KVCache], layer: int, impl: str,
                keep_probs: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim)  # [B, T, H, D]
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim)  # [B, T, K, D]
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, K, T, D]
        if hasattr(self, "q_norm"):  # qwen3: per-head RMSNorm before RoPE
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q.transpose(1, 2), cos, sin)  # [B, H, T, D]
        k = apply_rope(k.transpose(1, 2), cos, sin)  # [B, K, T, D]
        if cache is not None:
            k, v = cache.update(layer, k, v)  # [B, K, S, D]
        rep = self.n_heads // self.n_kv_heads  # GQA: query head h reads kv head h // rep
        if rep > 1:
            k = k[:, :, None].expand(b, self.n_kv_heads, rep, *k.shape[2:]).reshape(b, self.n_heads, *k.shape[2:])
            v = v[:, :, None].expand(b, self.n_kv_heads, rep, *v.shape[2:]).reshape(b, self.n_heads, *v.shape[2:])
        y = attention(q, k, v, mask, impl, keep_probs)  # [B, H, T, D]
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))  # [B, T, C]


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        c, i, bias = cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias
        self.gate_proj = nn.Linear(c, i, bias=bias, device=device)
        self.up_proj = nn.Linear(c, i, bias=bias, device=device)
        self.down_proj = nn.Linear(i, c, bias=bias, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C] -> [B, T, C]
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device)
        self.self_attn = Attention(cfg, device)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device)
        self.mlp = MLP(cfg, device)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: Optional[torch.Tensor],
                cache: Optional[KVCache], layer: int, impl: str,
                keep_probs: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer, impl, keep_probs)
        return x + self.mlp(self.post_attention_layernorm(x))


class DecoderModel(nn.Module):
    """HF's `model.` prefix: embeddings, layers, final norm."""

    def __init__(self, cfg: ModelConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, device=device)
        self.layers = nn.ModuleList(DecoderLayer(cfg, device) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, device)


@dataclass
class CausalLMOutput:
    logits: Optional[torch.Tensor]  # [B, T, V] in the model dtype (None when compute_logits=False)
    last_hidden_state: torch.Tensor  # [B, T, C] after the final norm: what lm_head reads
    hidden_states: Optional[List[torch.Tensor]] = None  # L+1 x [B, T, C], HF convention (see forward)
    past_key_values: Optional[KVCache] = None
    attentions: Optional[Dict[int, torch.Tensor]] = None  # layer -> probabilities [B, H, T, S] (fp32)


class CausalLM(nn.Module):
    def __init__(self, cfg: ModelConfig, device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.config = cfg
        self.model = DecoderModel(cfg, device)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False, device=device)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        # Not a buffer: `.to(bfloat16)` would round it, and HF keeps inv_freq in fp32.
        self.inv_freq, self.attention_factor = rope_inv_freq(
            cfg.head_dim, cfg.rope_theta, cfg.rope_scaling, cfg.max_position_embeddings)
        self.attn_impl = "sdpa" if HAS_SDPA else "eager"
        # recompute each layer in backward instead of keeping its activations (training memory)
        self.gradient_checkpointing = False
        self._inv_freq_cache: Dict[torch.device, torch.Tensor] = {}

    def _inv_freq_on(self, device: torch.device) -> torch.Tensor:
        if device not in self._inv_freq_cache:
            self._inv_freq_cache[device] = self.inv_freq.to(device)
        return self._inv_freq_cache[device]

    def forward(
        self,
        input_ids: torch.Tensor,  # [B, T]
        attention_mask: Optional[torch.Tensor] = None,  # [B, S] 1 = real token, 0 = padding (covers the cache);
                                                        # or [B, 1, T, S] bool: which keys each query sees
                                                        # (packed documents), used as is
        position_ids: Optional[torch.Tensor] = None,  # [B, T]; default past .. past+T-1
        past_key_values: Optional[KVCache] = None,
        output_hidden_states: bool = False,
        use_cache: bool = False,
        compute_logits: bool = True,
        output_attentions: Sequence[int] = (),  # layers whose attention probabilities to return
    ) -> CausalLMOutput:
        """hidden_states (HF convention): [embeddings, output of layer 0, ..., of layer L-2,
        final norm(output of layer L-1)], L+1 tensors."""
        b, t = input_ids.shape
        cache = past_key_values if past_key_values is not None else (KVCache() if use_cache else None)
        past = cache.seq_len() if cache is not None else 0
        full_mask = attention_mask is not None and attention_mask.dim() == 4
        if full_mask and tuple(attention_mask.shape) not in ((b, 1, t, past + t), (1, 1, t, past + t)):  # type: ignore[union-attr]
            raise ValueError(f"attention_mask: shape {tuple(attention_mask.shape)}, expected {(b, 1, t, past + t)}")  # type: ignore[union-attr]
        if attention_mask is not None and not full_mask and attention_mask.shape != (b, past + t):
            raise ValueError(f"attention_mask: shape {tuple(attention_mask.shape)}, expected {(b, past + t)} (cache {past} + input {t})")
        if position_ids is None:
            position_ids = torch.arange(past, past + t, device=input_ids.device)[None].expand(b, t)
        x = self.model.embed_tokens(input_ids)  # [B, T, C]
        # HF builds cos/sin in the embeddings' dtype, autocast or not
        cos, sin = rope_cos_sin(self._inv_freq_on(x.device), position_ids, self.attention_factor, x.dtype)  # [B, T, D]
        plain_causal = attention_mask is None and past == 0
        if full_mask:
            mask: Optional[torch.Tensor] = attention_mask.bool()  # type: ignore[union-attr]
        else:
            mask = None if plain_causal else causal_mask(attention_mask, t, past, x.device)  # [B|1, 1, T, S]
        hidden: Optional[List[torch.Tensor]] = [] if output_hidden_states else None
        attentions: Optional[Dict[int, torch.Tensor]] = {} if output_attentions else None
        for i, layer in enumerate(self.model.layers):
            if hidden is not None:
                hidden.append(x)
            keep: Optional[List[torch.Tensor]] = [] if i in output_attentions else None
            if keep is None and self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, cos, sin, mask, cache, i, self.attn_impl, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask, cache, i, self.attn_impl, keep)
            if keep and attentions is not None:
                attentions[i] = keep[0]
        x = self.model.norm(x)
        if hidden is not None:
            hidden.append(x)
        logits = self.lm_head(x) if compute_logits else None  # [B, T, V]
        return CausalLMOutput(logits, x, hidden, cache, attentions)


def autocast(device: Union[str, torch.device], dtype: Optional[torch.dtype]) -> contextlib.AbstractContextManager:
    """bf16/f16 autocast on CUDA (fp32 master weights); a no-op on CPU, where we keep fp32 math."""
    device = torch.device(device)
    if device.type != "cuda" or dtype in (None, torch.float32):
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


# ---- load / save in HF layout -------------------------------------------------------------------

_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # stored by some old Llama checkpoints; recomputed here


def load_model(folder: str, dtype: Union[str, torch.dtype, None] = torch.float32,
               device: Union[str, torch.device] = "cpu") -> CausalLM:
    """Load an HF checkpoint folder (config.json + model.safetensors or a sharded index)."""
    cfg = load_config(folder)
    dtype, device = as_dtype(dtype), torch.device(device)
    with torch.no_grad():
        # meta first: no random init and no fp32 copy of a bf16 model
        model = CausalLM(cfg, device=torch.device("meta")).to(dtype).to_empty(device=device)
        if cfg.tie_word_embeddings:
            model.lm_head.weight = model.model.embed_tokens.weight
        params = dict(model.named_parameters())  # tied lm_head appears once, as embed_tokens
        files = checkpoint_files(folder)
        unexpected = [n for n in files if n not in params and not n.endswith(_IGNORED_SUFFIXES)
                      and not (n == "lm_head.weight" and cfg.tie_word_embeddings)]
        if unexpected:
            raise SafetensorsError(f"{folder}: unexpected tensors for {cfg.model_type}: {', '.join(sorted(unexpected)[:5])}")
        missing = [n for n in params if n not in files]
        if missing:
            raise SafetensorsError(f"{folder}: missing tensor '{missing[0]}' ({len(missing)} missing in all)")
        by_file: Dict[str, List[str]] = {}
        for name in params:
            by_file.setdefault(files[name], []).append(name)
        for path, names in by_file.items():
            for name, tensor in load_file(path, names).items():
                if tuple(tensor.shape) != tuple(params[name].shape):
                    raise SafetensorsError(
                        f"{path}: tensor '{name}' has shape {list(tensor.shape)}, config expects {list(params[name].shape)}")
                params[name].copy_(tensor)
    return model


def save_model(model: CausalLM, folder: str, dtype: Union[str, torch.dtype, None] = None,
               max_shard_bytes: Optional[int] = None) -> None:
    """Write config.json + model.safetensors (HF names; tied lm_head omitted; LoRA weights excluded:
    merge them first with `merge_lora`, or save the adapter with `save_lora`)."""
    state = base_state_dict(model)
    if dtype is not None:
        state = {k: v.to(as_dtype(dtype)) for k, v in state.items()}
    cfg = model.config
    saved_dtype = next(iter(state.values())).dtype
    cfg.extra["torch_dtype"] = DTYPE_NAMES.get(saved_dtype, "float32")
    save_config(cfg, folder)
    save_checkpoint(state, folder, max_shard_bytes)


def base_state_dict(model: CausalLM) -> Dict[str, torch.Tensor]:
    """The checkpoint tensors, HF names, without LoRA factors or a tied lm_head."""
    state = {k: v.detach() for k, v in model.state_dict().items() if ".lora_" not in k}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return state


# ---- LoRA (PEFT layout) -------------------------------------------------------------------------

DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
PEFT_PREFIX = "base_model.model."
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class LoRALinear(nn.Linear):
    """y = x Wᵀ + b + (dropout(x) Aᵀ Bᵀ) * alpha/r, sharing W and b with the linear it replaces.
    A [r, in] ~ kaiming-uniform, B [out, r] = 0 (PEFT's init), so a fresh adapter changes nothing.
    A and B live in `lora_dtype` (fp32) even on a bf16 base, for a stable optimizer."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float,
                 lora_dtype: torch.dtype = torch.float32) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        device = base.weight.device
        self.lora_A = nn.Linear(self.in_features, rank, bias=False, device=device, dtype=lora_dtype)
        self.lora_B = nn.Linear(rank, self.out_features, bias=False, device=device, dtype=lora_dtype)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.rank, self.alpha, self.dropout = rank, alpha, dropout
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.linear(x, self.weight, self.bias)
        a = self.lora_A.weight
        delta = self.lora_B(self.lora_A(self.lora_dropout(x.to(a.dtype)))) * self.scaling
        return base + delta.to(base.dtype)


def apply_lora(model: CausalLM, rank: int, alpha: float, dropout: float = 0.0,
               targets: Sequence[str] = DEFAULT_LORA_TARGETS) -> List[str]:
    """Wrap every nn.Linear whose name ends with a target (PEFT's matching) in a LoRALinear and
    freeze everything else. Returns the wrapped module names."""
    if rank <= 0:
        raise ValueError(f"lora rank must be positive, got {rank}")
    wrapped: List[str] = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or isinstance(module, LoRALinear) or name == "lm_head":
            continue
        if any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, LoRALinear(module, rank, alpha, dropout))
            wrapped.append(name)
    if not wrapped:
        raise ValueError(f"lora targets {list(targets)} match no linear layer of this {model.config.model_type} model")
    for pname, p in model.named_parameters():
        p.requires_grad_(".lora_" in pname)
    model.lora_config = {"r": rank, "lora_alpha": alpha, "lora_dropout": dropout, "target_modules": sorted(set(
        name.rpartition(".")[2] for name in wrapped))}
    return wrapped


def save_lora(model: CausalLM, folder: str, base_model_name_or_path: str = "") -> None:
    """adapter_config.json + adapter_model.safetensors, named as PEFT saves them."""
    cfg = getattr(model, "lora_config", None)
    if cfg is None:
        raise ValueError("save_lora: the model has no LoRA adapter (call apply_lora first)")
    tensors = {PEFT_PREFIX + k: v.detach() for k, v in model.state_dict().items() if ".lora_" in k}
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, ADAPTER_WEIGHTS), {"format": "pt"})
    peft = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model_name_or_path,
        "r": cfg["r"], "lora_alpha": cfg["lora_alpha"], "lora_dropout": cfg["lora_dropout"],
        "target_modules": cfg["target_modules"], "bias": "none", "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "use_rslora": False, "modules_to_save": None,
    }
    with open(os.path.join(folder, ADAPTER_CONFIG), "w", encoding="utf-8") as f:
        json.dump(peft, f, indent=2)


def load_lora(model: CausalLM, folder: str) -> List[str]:
    """Apply the PEFT adapter in `folder` to `model` and load its weights."""
    path = os.path.join(folder, ADAPTER_CONFIG)
    with open(path, "r", encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("peft_type") != "LORA":
        raise ValueError(f"{path}: field 'peft_type' is {cfg.get('peft_type')!r}, expected 'LORA'")
    if cfg.get("use_rslora") or cfg.get("use_dora"):
        raise ValueError(f"{path}: rsLoRA/DoRA adapters are not supported")
    targets = cfg.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    for field in ("r", "lora_alpha"):
        if field not in cfg:
            raise ValueError(f"{path}: missing field '{field}'")
    wrapped = apply_lora(model, int(cfg["r"]), float(cfg["lora_alpha"]), float(cfg.get("lora_dropout", 0.0)),
                         targets or DEFAULT_LORA_TARGETS)
    weights_path = os.path.join(folder, ADAPTER_WEIGHTS)
    weights = load_file(weights_path)
    params = {PEFT_PREFIX + k: p for k, p in model.named_parameters() if ".lora_" in k}
    with torch.no_grad():
        for name, p in params.items():
            key = name if name in weights else name.replace(".weight", ".default.weight")
            if key not in weights:
                raise SafetensorsError(f"{weights_path}: missing tensor '{name}'")
            if tuple(weights[key].shape) != tuple(p.shape):
                raise SafetensorsError(f"{weights_path}: tensor '{key}' has shape {list(weights[key].shape)}, expected {list(p.shape)}")
            p.copy_(weights[key])
    extra = sorted(set(weights) - set(params) - {k.replace(".weight", ".default.weight") for k in params})
    if extra:
        raise SafetensorsError(f"{weights_path}: unexpected tensors: {', '.join(extra[:5])}")
    return wrapped


def merge_lora(model: CausalLM) -> None:
    """Fold every adapter into its base weight (W += B A · alpha/r) and restore plain nn.Linear."""
    with torch.no_grad():
        for name, module in list(model.named_modules()):
            if isinstance(module, LoRALinear):
                delta = (module.lora_B.weight @ module.lora_A.weight) * module.scaling  # [out, in]
                module.weight += delta.to(module.weight.dtype)
                plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                                  device=torch.device("meta"))
                plain.weight, plain.bias = module.weight, module.bias
                parent_name, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent_name), child, plain)
    for p in model.parameters():
        p.requires_grad_(True)
    if hasattr(model, "lora_config"):
        del model.lora_config


def lora_parameters(model: nn.Module) -> Iterable[nn.Parameter]:
    return (p for n, p in model.named_parameters() if ".lora_" in n)
