"""config.json parsing for qwen2 / qwen3 / llama: per-family defaults and the errors."""
import json

import pytest

from retort_torch.config import ConfigError, load_config, parse_config, save_config

# Trimmed from the published configs of DeepSeek-R1-Distill-Qwen-1.5B, Qwen3-0.6B and Llama-3.2-1B.
QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
    "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 10000, "vocab_size": 151936, "tie_word_embeddings": False, "max_position_embeddings": 131072,
    "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "use_sliding_window": False,
    "sliding_window": 4096, "torch_dtype": "bfloat16",
}
QWEN3 = {
    "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000, "vocab_size": 151936, "tie_word_embeddings": True, "attention_bias": False,
    "max_position_embeddings": 40960, "hidden_act": "silu",
}
LLAMA = {
    "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "vocab_size": 128256, "tie_word_embeddings": True, "attention_bias": False,
    "mlp_bias": False, "eos_token_id": [128001, 128008, 128009],
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}


def test_qwen2_biases_and_head_dim():
    c = parse_config(QWEN2)
    assert (c.qkv_bias, c.o_bias, c.mlp_bias, c.qk_norm) == (True, False, False, False)
    assert c.head_dim == 128 and c.num_key_value_heads == 2 and not c.tie_word_embeddings
    assert c.rope_scaling is None and c.extra["sliding_window"] == 4096


def test_qwen3_head_dim_and_qk_norm():
    c = parse_config(QWEN3)
    assert c.head_dim == 128 and c.hidden_size // c.num_attention_heads == 64  # explicit head_dim wins
    assert (c.qkv_bias, c.o_bias, c.qk_norm, c.tie_word_embeddings) == (False, False, True, True)
    assert c.rope_theta == 1e6


def test_llama_biases_and_rope_scaling():
    c = parse_config(LLAMA)
    assert c.rope_scaling.rope_type == "llama3" and c.rope_scaling.factor == 32.0
    assert c.rope_scaling.original_max_position_embeddings == 8192
    assert c.eos_token_id == [128001, 128008, 128009]
    c = parse_config({**LLAMA, "attention_bias": True, "mlp_bias": True, "rope_scaling": {"type": "linear", "factor": 2}})
    assert (c.qkv_bias, c.o_bias, c.mlp_bias) == (True, True, True) and c.rope_scaling.rope_type == "linear"


def test_rope_parameters_of_transformers_v5():
    hf = {k: v for k, v in QWEN3.items() if k != "rope_theta"}
    hf["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 5e5, "factor": 4.0, "original_max_position_embeddings": 32768}
    c = parse_config(hf)
    assert c.rope_theta == 5e5 and c.rope_scaling.rope_type == "yarn" and c.rope_scaling.factor == 4.0


@pytest.mark.parametrize("cfg", [QWEN2, QWEN3, LLAMA])
def test_save_load_round_trip(tmp_path, cfg):
    c = parse_config(cfg)
    save_config(c, str(tmp_path))
    back = load_config(str(tmp_path))
    assert back == c
    hf = json.loads((tmp_path / "config.json").read_text())
    assert hf["model_type"] == cfg["model_type"] and hf["architectures"][0].endswith("ForCausalLM")


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"model_type": "gpt2"}, "field 'model_type' is 'gpt2'"),
        ({"vocab_size": None}, "missing field 'vocab_size'"),
        ({"hidden_size": -4}, "field 'hidden_size' must be a positive integer"),
        ({"num_key_value_heads": 5}, "field 'num_key_value_heads' (5) must divide num_attention_heads (12)"),
        ({"use_sliding_window": True}, "field 'use_sliding_window'"),
        ({"hidden_act": "gelu"}, "field 'hidden_act' is 'gelu'"),
        ({"rope_scaling": {"rope_type": "longrope", "factor": 2}}, "field 'rope_scaling.rope_type' is 'longrope'"),
        ({"rope_scaling": {"rope_type": "llama3", "factor": 8}}, "rope_scaling.original_max_position_embeddings"),
    ],
)
def test_errors_name_file_and_field(tmp_path, patch, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**QWEN2, **patch}))
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path))
    assert str(path) in str(e.value) and message in str(e.value), str(e.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path))
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(str(tmp_path))
