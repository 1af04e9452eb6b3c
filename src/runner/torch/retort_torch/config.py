"""HF `config.json` -> `ModelConfig` for the three decoder families we run: qwen2, qwen3, llama.

What differs between them, in one place:
  qwen2  q/k/v projections have a bias, o_proj does not; head_dim = hidden / heads.
  qwen3  no biases unless `attention_bias`; explicit `head_dim`; RMSNorm over head_dim on q and k
         (per head, before RoPE).
  llama  `attention_bias` puts a bias on q/k/v/o; `mlp_bias` on gate/up/down; optional `head_dim`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Union

ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "llama": "LlamaForCausalLM"}
ROPE_TYPES = ("default", "linear", "llama3", "yarn")


class ConfigError(ValueError):
    """A config.json we cannot run; the message names the file and the field."""


@dataclass
class RopeScaling:
    """`rope_scaling` of HF configs. Only the fields of the chosen `rope_type` matter."""

    rope_type: str = "default"
    factor: float = 1.0
    # llama3
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: Optional[int] = None
    # yarn
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    attention_factor: Optional[float] = None
    mscale: Optional[float] = None
    mscale_all_dim: Optional[float] = None
    truncate: bool = True


@dataclass
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: Optional[RopeScaling] = None
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    max_position_embeddings: int = 32768
    bos_token_id: Optional[int] = None
    eos_token_id: Union[int, List[int], None] = None
    # keys we do not interpret, kept so a saved config loads in transformers/vLLM as before
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_hf(self) -> Dict[str, Any]:
        """The config.json dict in HF spelling."""
        out: Dict[str, Any] = dict(self.extra)
        out.update(
            architectures=[ARCHITECTURES[self.model_type]],
            model_type=self.model_type,
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            hidden_act="silu",
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            rope_scaling=None if self.rope_scaling is None else _rope_to_hf(self.rope_scaling),
            tie_word_embeddings=self.tie_word_embeddings,
            max_position_embeddings=self.max_position_embeddings,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
        )
        if self.model_type in ("llama", "qwen3"):
            out["attention_bias"] = self.qkv_bias
        if self.model_type == "llama":
            out["mlp_bias"] = self.mlp_bias
        return out


def _rope_to_hf(r: RopeScaling) -> Dict[str, Any]:
    keys = {
        "default": [],
        "linear": ["factor"],
        "llama3": ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
        "yarn": ["factor", "beta_fast", "beta_slow", "attention_factor", "mscale", "mscale_all_dim",
                 "original_max_position_embeddings", "truncate"],
    }[r.rope_type]
    d = asdict(r)
    out = {"rope_type": r.rope_type}
    out.update({k: d[k] for k in keys if d[k] is not None})
    return out


def parse_config(hf: Dict[str, Any], where: str = "config.json") -> ModelConfig:
    """Validate an HF config dict; `where` names its file in errors."""
    def need(key: str, kind: type = int) -> Any:
        if key not in hf or hf[key] is None:
            raise ConfigError(f"{where}: missing field '{key}'")
        value = hf[key]
        if kind is int and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ConfigError(f"{where}: field '{key}' must be a positive integer, got {value!r}")
        if kind is float and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise ConfigError(f"{where}: field '{key}' must be a positive number, got {value!r}")
        return value

    model_type = hf.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ConfigError(f"{where}: field 'model_type' is {model_type!r}; supported: {', '.join(ARCHITECTURES)}")
    act = hf.get("hidden_act", "silu")
    if act != "silu":
        raise ConfigError(f"{where}: field 'hidden_act' is {act!r}; only 'silu' (SwiGLU) is supported")
    if hf.get("use_sliding_window"):
        raise ConfigError(f"{where}: field 'use_sliding_window' is true; sliding-window attention is not supported")

    hidden, heads = need("hidden_size"), need("num_attention_heads")
    kv_heads = hf.get("num_key_value_heads") or heads
    if not isinstance(kv_heads, int) or kv_heads <= 0 or heads % kv_heads:
        raise ConfigError(f"{where}: field 'num_key_value_heads' ({kv_heads!r}) must divide num_attention_heads ({heads})")
    head_dim = hf.get("head_dim")
    if head_dim is None and model_type == "qwen3":
        head_dim = 128  # Qwen3Config's default, which transformers uses when the field is absent
    if head_dim is None:
        if hidden % heads:
            raise ConfigError(f"{where}: field 'hidden_size' ({hidden}) is not divisible by num_attention_heads ({heads})")
        head_dim = hidden // heads
    elif not isinstance(head_dim, int) or head_dim <= 0 or head_dim % 2:
        raise ConfigError(f"{where}: field 'head_dim' must be a positive even integer, got {head_dim!r}")

    # transformers >= 5 moves rope_theta and the scaling into `rope_parameters`
    rope_params = hf.get("rope_parameters") or {}
    rope_theta = rope_params.get("rope_theta", hf.get("rope_theta", 10000.0))
    scaling_src = hf.get("rope_scaling")
    if scaling_src is None and rope_params.get("rope_type", "default") != "default":
        scaling_src = rope_params
    attention_bias = bool(hf.get("attention_bias", False))

    known = {
        "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
        "tie_word_embeddings", "attention_bias", "mlp_bias", "max_position_embeddings", "bos_token_id",
        "eos_token_id", "architectures", "hidden_act",
    }
    return ModelConfig(
        model_type=model_type,
        vocab_size=need("vocab_size"),
        hidden_size=hidden,
        intermediate_size=need("intermediate_size"),
        num_hidden_layers=need("num_hidden_layers"),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        rope_theta=float(rope_theta),
        rope_scaling=_parse_rope_scaling(scaling_src, where),
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=True if model_type == "qwen2" else attention_bias,
        o_bias=False if model_type == "qwen2" else attention_bias,
        mlp_bias=bool(hf.get("mlp_bias", False)) if model_type == "llama" else False,
        qk_norm=model_type == "qwen3",
        max_position_embeddings=int(hf.get("max_position_embeddings", 32768)),
        bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"),
        extra={k: v for k, v in hf.items() if k not in known},
    )


def _parse_rope_scaling(src: Optional[Dict[str, Any]], where: str) -> Optional[RopeScaling]:
    if not src:
        return None
    if not isinstance(src, dict):
        raise ConfigError(f"{where}: field 'rope_scaling' must be an object or null")
    kind = src.get("rope_type", src.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise ConfigError(f"{where}: field 'rope_scaling.rope_type' is {kind!r}; supported: {', '.join(ROPE_TYPES)}")
    if kind == "default":
        return None
    if not isinstance(src.get("factor"), (int, float)) or src["factor"] <= 0:
        raise ConfigError(f"{where}: field 'rope_scaling.factor' must be a positive number for rope_type {kind!r}")
    if kind == "llama3" and not src.get("original_max_position_embeddings"):
        raise ConfigError(f"{where}: field 'rope_scaling.original_max_position_embeddings' is required for llama3")
    fields = RopeScaling.__dataclass_fields__
    values = {k: v for k, v in src.items() if k in fields and k != "rope_type" and v is not None}
    return RopeScaling(rope_type=kind, **values)


def load_config(folder_or_file: str) -> ModelConfig:
    """Read `config.json` from a model folder (or the file itself)."""
    path = os.path.join(folder_or_file, "config.json") if os.path.isdir(folder_or_file) else folder_or_file
    try:
        with open(path, "r", encoding="utf-8") as f:
            hf = json.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(hf, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    return parse_config(hf, path)


def save_config(config: ModelConfig, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config.to_hf(), f, indent=2)
        f.write("\n")
