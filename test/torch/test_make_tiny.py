"""make_tiny's CLI: HF fields per arch, dtype on disk, determinism per seed."""
import json
import os
import subprocess
import sys

import pytest
import torch

from retort_torch.make_tiny import main
from retort_torch.model import load_model
from retort_torch.safetensors_io import load_file, read_header

PKG = os.path.join(os.path.dirname(__file__), "..", "..", "src", "runner", "torch")


def run_cli(*args):
    assert main(list(args)) == 0


def test_runs_as_a_module(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(PKG)}
    args = ["--arch", "qwen3", "--out", str(tmp_path), "--layers", "1"]
    out = subprocess.run([sys.executable, "-m", "retort_torch.make_tiny", *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["model_type"] == "qwen3" and os.path.exists(tmp_path / "model.safetensors")


@pytest.mark.parametrize("arch, dtype, st_dtype", [("qwen2", "bf16", "BF16"), ("qwen3", "f16", "F16"), ("llama", "f32", "F32")])
def test_cli_writes_hf_layout(tmp_path, arch, dtype, st_dtype):
    d = str(tmp_path / arch)
    run_cli("--arch", arch, "--out", d, "--seed", "3", "--vocab", "50", "--hidden", "32", "--layers", "3",
            "--heads", "4", "--kv-heads", "1", "--intermediate", "48", "--head-dim", "10", "--dtype", dtype, "--tie")
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["model_type"] == arch and cfg["num_hidden_layers"] == 3 and cfg["head_dim"] == 10
    assert cfg["num_key_value_heads"] == 1 and cfg["tie_word_embeddings"] is True
    infos, _, _ = read_header(os.path.join(d, "model.safetensors"))
    assert {i.dtype for i in infos.values()} == {st_dtype}
    assert infos["model.layers.2.self_attn.k_proj.weight"].shape == [10, 32]
    tensors = load_file(os.path.join(d, "model.safetensors"))
    norms = torch.cat([t.float() for n, t in tensors.items() if n.endswith("norm.weight")])
    assert 0.89 <= norms.min() and norms.max() <= 1.11  # 1 ± 0.1, plus bf16 rounding and norms.std() > 0.02
    biases = [t.float() for n, t in tensors.items() if n.endswith(".bias")]
    if arch != "qwen3":
        assert biases and all(b.abs().min() > 0 for b in biases)
    emb = tensors["model.embed_tokens.weight"].float()
    assert abs(emb.std().item() - 0.02) < 0.003
    model = load_model(d)
    assert model(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 50)


def test_same_seed_same_bytes(tmp_path):
    run_cli("--arch", "qwen2", "--out", str(tmp_path / "a"), "--seed", "5")
    run_cli("--arch", "qwen2", "--out", str(tmp_path / "b"), "--seed", "5")
    run_cli("--arch", "qwen2", "--out", str(tmp_path / "c"), "--seed", "6")
    read = lambda p: open(os.path.join(p, "model.safetensors"), "rb").read()
    assert read(tmp_path / "a") == read(tmp_path / "b") != read(tmp_path / "c")
