"""The reference CLI the TypeScript tests call: outputs checked against independent computations
(F.kl_div formulas, AdamW's update written out, finite differences in float64)."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from retort_torch.make_tiny import make_tiny
from retort_torch.model import load_model
from retort_torch.reference import main
from retort_torch.safetensors_io import load_file, save_file

PKG = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src", "runner", "torch"))


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    make_tiny(str(root / "student"), "qwen2", seed=1, vocab=64, hidden=32, layers=2, heads=4, kv_heads=2, intermediate=48)
    make_tiny(str(root / "teacher"), "qwen3", seed=2, vocab=64, hidden=48, layers=2, heads=4, kv_heads=2,
              intermediate=64, tie=True)
    return root


def test_forward_writes_logits_and_hidden_states(models, tmp_path):
    out = str(tmp_path / "fwd.safetensors")
    assert main(["forward", "--model", str(models / "student"), "--ids", "1,5,9,63", "--out", out]) == 0
    t = load_file(out)
    model = load_model(str(models / "student"))
    want = model(torch.tensor([[1, 5, 9, 63]])).logits[0].detach()
    assert t["logits"].dtype == torch.float32 and torch.equal(t["logits"], want)
    assert sorted(k for k in t if k.startswith("hidden.")) == ["hidden.0", "hidden.1", "hidden.2"]
    assert torch.equal(t["hidden.0"], model.model.embed_tokens.weight[[1, 5, 9, 63]].detach())
    assert torch.equal(t["hidden.1"], t["layer.0"])
    assert torch.allclose(t["hidden.2"], model.model.norm(t["layer.1"]).detach())


def test_loss_command_against_functional_formulas(tmp_path):
    g = torch.Generator().manual_seed(0)
    n, v = 7, 30
    zs, zt = 2 * torch.randn(n, v, generator=g), 2 * torch.randn(n, v + 4, generator=g)
    labels = torch.randint(0, 28, (n,), generator=g).to(torch.int32)
    mask = torch.tensor([1, 1, 0, 1, 1, 0, 1], dtype=torch.float32)
    hs, ht = torch.randn(n, 6, generator=g), torch.randn(n, 8, generator=g)
    pw, pb = 0.3 * torch.randn(8, 6, generator=g), 0.1 * torch.randn(8, generator=g)
    inp = str(tmp_path / "in.safetensors")
    save_file({"student_logits": zs, "teacher_logits": zt, "labels": labels, "mask": mask, "student_hidden": hs,
               "teacher_hidden": ht, "proj_weight": pw, "proj_bias": pb}, inp)
    cfg = {"divergence": "reverse-kl", "alpha": 0.7, "temperature": 2.0, "vocab_size": 28, "hidden": "cosine"}
    out = str(tmp_path / "out.safetensors")
    assert main(["loss", "--in", inp, "--config", json.dumps(cfg), "--out", out]) == 0
    r = load_file(out)

    z = zs.double()[:, :28].requires_grad_()
    ls, lt = F.log_softmax(z / 2, -1), F.log_softmax(zt.double()[:, :28] / 2, -1)
    d = F.kl_div(lt, ls, reduction="none", log_target=True).sum(-1)  # KL(p_s ‖ p_t)
    ce = F.cross_entropy(z, labels.long(), reduction="none")
    m = mask.double()
    total = ((0.7 * 4 * d + 0.3 * ce) * m).sum() / m.sum()
    (grad,) = torch.autograd.grad(total, z)
    y = F.linear(hs.double(), pw.double(), pb.double())
    h = ((1 - F.cosine_similarity(y, ht.double(), dim=-1)) * m).sum() / m.sum()
    worst = max(rel(r["total"], total), rel(r["grad_student_logits"][:, :28], grad), rel(r["hidden_loss"], h))
    print(f"loss command vs functional: worst rel diff {worst:.1e}")
    assert worst < 1e-6 and r["grad_student_logits"][:, 28:].abs().max() == 0
    assert r["tokens"].item() == 5 and r["token_soft"].shape == (n,) and r["token_soft"][2] == 0
    assert r["grad_proj_weight"].shape == (8, 6)
    # chunked and sparse through the same command
    ids = torch.topk(zt[:, :28], 4, -1).indices.to(torch.int32)
    save_file({"student_logits": zs, "teacher_ids": ids, "labels": labels, "mask": mask,
               "teacher_logprobs": F.log_softmax(zt[:, :28], -1).gather(1, ids.long())}, inp)
    sparse = {"divergence": "forward-kl", "alpha": 0.5, "temperature": 1.0, "vocab_size": 28}
    assert main(["loss", "--in", inp, "--config", json.dumps(sparse), "--out", out]) == 0
    a = load_file(out)
    assert main(["loss", "--in", inp, "--config", json.dumps({**sparse, "chunk_tokens": 2}), "--out", out]) == 0
    b = load_file(out)
    assert rel(a["total"], b["total"]) < 1e-6 and rel(a["grad_student_logits"], b["grad_student_logits"]) < 1e-6


def _batch_and_config(tmp_path, models, name="config", **cfg_extra):
    batch = {"input_ids": [[1, 7, 8, 9, 20, 21], [1, 30, 31, 40, 41, 0]],
             "labels": [[-100, -100, 8, 9, 20, 21], [-100, -100, -100, 40, 41, -100]],
             "attention_mask": [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]]}
    cfg = {"loss": {"divergence": "forward-kl", "alpha": 0.5, "temperature": 2.0},
           "teacher": os.path.relpath(models / "teacher", tmp_path),  # relative to the config's folder
           "optimizer": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1}, **cfg_extra}
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
    return batch, str(tmp_path / "batch.json"), str(tmp_path / f"{name}.json")


def independent_loss(student, teacher, batch, alpha=0.5, t=2.0):
    ids = torch.tensor(batch["input_ids"])
    am = torch.tensor(batch["attention_mask"])
    labels = torch.tensor(batch["labels"])[:, 1:]
    m = (labels != -100).double()
    zs = student(ids, attention_mask=am).logits[:, :-1].double()
    zt = teacher(ids, attention_mask=am).logits[:, :-1].double().detach()
    d = F.kl_div(F.log_softmax(zs / t, -1), F.log_softmax(zt / t, -1), reduction="none", log_target=True).sum(-1)
    ce = F.cross_entropy(zs.transpose(1, 2), labels.clamp(min=0), reduction="none")
    return ((alpha * t * t * d + (1 - alpha) * ce) * m).sum() / m.sum()


def test_train_step_loss_grads_and_adamw(models, tmp_path):
    batch, batch_path, cfg_path = _batch_and_config(tmp_path, models, max_grad_norm=1e9)
    out = str(tmp_path / "step")
    assert main(["train-step", "--model", str(models / "student"), "--batch", batch_path, "--config", cfg_path,
                 "--out", out]) == 0
    loss = json.load(open(os.path.join(out, "loss.json")))
    student, teacher = load_model(str(models / "student")), load_model(str(models / "teacher"))
    want = independent_loss(student, teacher, batch)
    assert rel(loss["total"], want) < 1e-5 and loss["tokens"] == 6

    # gradients by central finite differences on a float64 copy, a few entries of a few weights
    grads = load_file(os.path.join(out, "grads.safetensors"))
    s64, t64 = load_model(str(models / "student")).double(), load_model(str(models / "teacher")).double()
    params = dict(s64.named_parameters())
    worst = 0.0
    for name, idx in [("model.layers.0.self_attn.q_proj.weight", (3, 5)), ("model.layers.1.mlp.down_proj.weight", (7, 2)),
                      ("model.embed_tokens.weight", (8, 1)), ("model.layers.0.self_attn.k_proj.bias", (4,)),
                      ("model.norm.weight", (11,)), ("lm_head.weight", (9, 3))]:
        p, eps = params[name], 1e-6
        with torch.no_grad():
            p[idx] += eps
            up = independent_loss(s64, t64, batch).item()
            p[idx] -= 2 * eps
            down = independent_loss(s64, t64, batch).item()
            p[idx] += eps
        fd = (up - down) / (2 * eps)
        worst = max(worst, abs(fd - grads[name][idx].item()) / max(abs(fd), 1e-3))
    print(f"train-step grads vs finite differences: worst rel diff {worst:.1e}")
    assert worst < 1e-3

    # one AdamW step written out: p ← p − lr·wd·p − lr · m̂ / (√v̂ + eps), m̂ = g and v̂ = g² at step 1
    after = load_model(out)
    before = dict(load_model(str(models / "student")).named_parameters())
    worst = 0.0
    for name, p in after.named_parameters():
        b, g = before[name].detach().double(), grads[name].double()
        want = b - 0.01 * 0.1 * b - 0.01 * g / (g.abs() + 1e-8)
        worst = max(worst, (p.detach().double() - want).abs().max().item())
    print(f"AdamW step: worst abs diff {worst:.1e}")
    assert worst < 1e-6


def test_train_step_lora_and_chunked(models, tmp_path):
    _, batch_path, cfg_path = _batch_and_config(tmp_path, models, chunk_tokens=3,
                                                lora={"r": 2, "alpha": 4, "targets": ["q_proj", "v_proj"]})
    out = str(tmp_path / "lora")
    assert main(["train-step", "--model", str(models / "student"), "--batch", batch_path, "--config", cfg_path,
                 "--out", out]) == 0
    grads = load_file(os.path.join(out, "grads.safetensors"))
    assert set(grads) == set(load_file(os.path.join(out, "adapter_model.safetensors")))
    assert all(k.startswith("base_model.model.model.layers.") and ".lora_" in k for k in grads)
    # B = 0 at init, so only B gets a gradient and the loss equals the base model's
    assert all(grads[k].abs().max() == 0 for k in grads if "lora_A" in k)
    assert all(grads[k].abs().max() > 0 for k in grads if "lora_B" in k)
    loss = json.load(open(os.path.join(out, "loss.json")))
    _, _, plain_cfg = _batch_and_config(tmp_path, models, name="plain")
    plain = str(tmp_path / "plain")
    assert main(["train-step", "--model", str(models / "student"), "--batch", batch_path, "--config", plain_cfg,
                 "--out", plain]) == 0
    assert rel(loss["total"], json.load(open(os.path.join(plain, "loss.json")))["total"]) < 1e-6


def test_errors_are_reported_not_raised(models, tmp_path, capsys):
    assert main(["forward", "--model", str(models / "student"), "--ids", "1,64", "--out", str(tmp_path / "x")]) == 2
    assert "--ids: need ids in [0, 64), got [64]" in capsys.readouterr().err
    (tmp_path / "b.json").write_text(json.dumps({"input_ids": [[1, 2]]}))
    (tmp_path / "c.json").write_text("{}")
    assert main(["train-step", "--model", str(models / "student"), "--batch", str(tmp_path / "b.json"),
                 "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")]) == 2
    assert "b.json: missing field 'labels'" in capsys.readouterr().err
    save_file({"teacher_logits": torch.zeros(2, 3)}, str(tmp_path / "l.safetensors"))
    assert main(["loss", "--in", str(tmp_path / "l.safetensors"), "--config", "{}", "--out", str(tmp_path / "o.st")]) == 2
    assert "missing tensor 'student_logits'" in capsys.readouterr().err


def test_runs_as_a_module(models, tmp_path):
    env = {**os.environ, "PYTHONPATH": PKG}
    out = str(tmp_path / "f.safetensors")
    r = subprocess.run([sys.executable, "-m", "retort_torch.reference", "forward", "--model", str(models / "teacher"),
                        "--ids", "3,4", "--out", out], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert load_file(out)["logits"].shape == (2, 64)
