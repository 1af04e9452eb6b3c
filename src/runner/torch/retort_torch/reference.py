"""PyTorch numbers for the TypeScript engine's tests. Three subcommands, files in, files out.

forward
    python3 -m retort_torch.reference forward --model DIR --ids 1,2,3 --out FILE.safetensors [--dtype f32|bf16]
  Runs the model on one sequence. Writes (all F32):
    logits      [T, V]
    hidden.N    [T, C] for N = 0..L, transformers' output_hidden_states: hidden.0 = embeddings,
                hidden.N = output of layer N-1 for N < L, hidden.L = final norm(output of layer L-1)
    layer.N     [T, C] for N = 0..L-1: the residual stream right after layer N (no final norm)

train-step
    python3 -m retort_torch.reference train-step --model DIR --batch FILE.json --config FILE.json --out DIR
  One forward/backward and one torch.optim.AdamW step (decoupled weight decay; bias-corrected moments;
  eps added outside the square root), in fp32 on CPU.
  batch.json:
    {"input_ids": [[int]],            B x T
     "labels": [[int]],               B x T, HF convention: -100 = not counted; labels[b][t] is predicted
                                      from position t-1 (the shift happens here), so labels[b][0] is unused
     "attention_mask": [[0|1]],       optional, B x T (1 = real token)
     "teacher_topk": {"ids": [[[int]]], "logprobs": [[[float]]]}}
                                      optional, B x T x k: the teacher's top-k at T=1 for token t (same
                                      alignment as labels); id -1 = unused slot
  config.json (paths relative to this file's folder):
    {"loss": {"divergence": "forward-kl", "alpha": 0.5, "temperature": 2.0, "beta": 0.5, "skew": 0.1},
     "teacher": "DIR",                optional teacher model folder for dense logits (else teacher_topk)
     "vocab_size": int,               optional: slice logits to the tokenizer's vocab
     "chunk_tokens": int,             optional: > 0 uses the chunked loss fused with the LM head
     "optimizer": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
     "max_grad_norm": float,          optional: clip the global grad norm before the step
     "lora": {"r": 4, "alpha": 8, "dropout": 0, "targets": ["q_proj", "v_proj"]},  optional
     "qat": {"bits": 4, "groupSize": 32, "symmetric": true, "perChannel": true},   optional (qat.py)
     "seed": 0}                       torch seed (LoRA init)
  Writes to DIR: loss.json {"total", "soft", "hard", "tokens", "grad_norm"}; grads.safetensors (F32
  gradient of every trainable parameter before the step, HF names; PEFT names for LoRA); the updated
  weights as a model folder (config.json + model.safetensors), or for LoRA adapter_config.json +
  adapter_model.safetensors.

loss
    python3 -m retort_torch.reference loss --in FILE.safetensors --config JSON --out FILE.safetensors
  Loss and gradient for given logits. --config is inline JSON or a path to a .json file:
    {"divergence", "alpha", "temperature", "beta", "skew"   (as above),
     "vocab_size": int (optional), "chunk_tokens": int (optional), "hidden": "mse" | "cosine" (optional),
     "precision": "f64" | "f32" (default f64: the reference is computed in float64)}
  Input tensors (floats F32/F16/BF16/F64, ids I32/I64):
    student_logits [N, V]   required
    teacher_logits [N, V']  dense teacher (or teacher_ids + teacher_logprobs [N, k] for sparse targets)
    labels [N]              required when alpha < 1
    mask [N]                optional, 1 = counts (default: all ones)
    student_hidden [N, d_s], teacher_hidden [N, d_t], proj_weight [d_t, d_s], proj_bias [d_t]
                            with "hidden": the hidden-state loss (reported separately, not added)
  Output tensors (F32): total, soft, hard, tokens [1]; grad_student_logits [N, V] (d total / d logits,
  zero in columns >= vocab_size); token_soft, token_hard [N]; with "hidden": hidden_loss [1],
  grad_student_hidden, grad_proj_weight, grad_proj_bias.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import torch

from .losses import HeadLogits, LossConfig, SparseTargets, distill_loss, distill_loss_chunked, hidden_loss
from .model import apply_lora, as_dtype, load_model, save_lora, save_model
from .qat import apply_qat
from .safetensors_io import load_file, save_file
from .spec import Qat


# ---- forward ------------------------------------------------------------------------------------

def run_forward(model_dir: str, ids: List[int], out: str, dtype: str = "f32") -> None:
    model = load_model(model_dir, as_dtype(dtype))
    model.eval()
    bad = [i for i in ids if not 0 <= i < model.config.vocab_size]
    if not ids or bad:
        raise ValueError(f"--ids: need ids in [0, {model.config.vocab_size}), got {bad or 'none'}")
    layers: Dict[str, torch.Tensor] = {}
    # a layer's output is [B, T, C]; keep batch row 0
    hooks = [layer.register_forward_hook(lambda _m, _i, o, n=n: layers.__setitem__(f"layer.{n}", o[0]))
             for n, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        res = model(torch.tensor([ids]), output_hidden_states=True)
    for h in hooks:
        h.remove()
    tensors = {"logits": res.logits[0]}
    tensors.update({f"hidden.{n}": h[0] for n, h in enumerate(res.hidden_states or [])})
    tensors.update(layers)
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, out)


# ---- train-step ---------------------------------------------------------------------------------

def _read_json(path: str) -> Any:
    with open(path, "r", encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None


def _field(d: Dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ValueError(f"{where}: missing field '{key}'")
    return d[key]


def _int_tensor(rows: Any, where: str, field: str) -> torch.Tensor:
    try:
        return torch.tensor(rows, dtype=torch.long)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: field '{field}' must be a rectangular array of integers: {e}") from None


def run_train_step(model_dir: str, batch_path: str, config_path: str, out: str) -> Dict[str, float]:
    batch, cfg = _read_json(batch_path), _read_json(config_path)
    base = os.path.dirname(os.path.abspath(config_path))
    torch.manual_seed(int(cfg.get("seed", 0)))
    loss_cfg = LossConfig.from_dict(cfg.get("loss", {}))

    input_ids = _int_tensor(_field(batch, "input_ids", batch_path), batch_path, "input_ids")  # [B, T]
    labels = _int_tensor(_field(batch, "labels", batch_path), batch_path, "labels")  # [B, T]
    if labels.shape != input_ids.shape:
        raise ValueError(f"{batch_path}: field 'labels' has shape {list(labels.shape)}, input_ids {list(input_ids.shape)}")
    attention_mask = _int_tensor(batch["attention_mask"], batch_path, "attention_mask") if "attention_mask" in batch else None

    student = load_model(model_dir)
    lora = cfg.get("lora")
    if lora:
        apply_lora(student, int(_field(lora, "r", f"{config_path}: lora")), float(lora.get("alpha", 2 * lora["r"])),
                   float(lora.get("dropout", 0.0)), lora.get("targets", ["q_proj", "k_proj", "v_proj", "o_proj"]))
    qat = cfg.get("qat")
    if qat:
        apply_qat(student, Qat(int(qat["bits"]), int(qat.get("groupSize", 128)), bool(qat.get("symmetric", True)),
                               bool(qat.get("perChannel", True))))
    student.train()

    # next-token alignment: logits at t predict labels at t+1
    y = labels[:, 1:]  # [B, T-1]
    mask = (y != -100).long()
    teacher: Any = None
    chunk = int(cfg.get("chunk_tokens", 0))
    if cfg.get("teacher"):
        t_model = load_model(os.path.join(base, cfg["teacher"]))
        t_model.eval()
        with torch.no_grad():
            t_out = t_model(input_ids, attention_mask=attention_mask, compute_logits=chunk == 0)
        teacher = (HeadLogits(t_out.last_hidden_state[:, :-1], t_model.lm_head.weight) if chunk
                   else t_out.logits[:, :-1])
    elif "teacher_topk" in batch:
        topk = batch["teacher_topk"]
        ids = _int_tensor(_field(topk, "ids", f"{batch_path}: teacher_topk"), batch_path, "teacher_topk.ids")
        lp = torch.tensor(_field(topk, "logprobs", f"{batch_path}: teacher_topk"), dtype=torch.float32)
        teacher = SparseTargets(ids[:, 1:], lp[:, 1:])

    out_s = student(input_ids, attention_mask=attention_mask, compute_logits=chunk == 0)
    vocab = cfg.get("vocab_size")
    if chunk:
        parts = distill_loss_chunked(HeadLogits(out_s.last_hidden_state[:, :-1], student.lm_head.weight), teacher,
                                     y, mask, loss_cfg, vocab, chunk)
    else:
        parts = distill_loss(out_s.logits[:, :-1], teacher, y, mask, loss_cfg, vocab)
    parts.total.backward()

    trainable = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    prefix = "base_model.model." if lora else ""
    grads = {prefix + n: (p.grad if p.grad is not None else torch.zeros_like(p)).float() for n, p in trainable}
    params = [p for _, p in trainable]
    max_norm = cfg.get("max_grad_norm")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, float(max_norm) if max_norm else float("inf"))
    opt = cfg.get("optimizer", {})
    torch.optim.AdamW(params, lr=float(opt.get("lr", 1e-3)), betas=tuple(opt.get("betas", (0.9, 0.999))),
                      eps=float(opt.get("eps", 1e-8)), weight_decay=float(opt.get("weight_decay", 0.0))).step()

    os.makedirs(out, exist_ok=True)
    save_file(grads, os.path.join(out, "grads.safetensors"))
    if lora:
        save_lora(student, out, base_model_name_or_path=os.path.abspath(model_dir))
    else:
        save_model(student, out)
    result = {"total": parts.total.item(), "soft": parts.soft.item(), "hard": parts.hard.item(),
              "tokens": parts.tokens, "grad_norm": float(grad_norm)}
    with open(os.path.join(out, "loss.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


# ---- loss ---------------------------------------------------------------------------------------

def run_loss(in_path: str, config: str, out: str) -> Dict[str, float]:
    cfg = dict(_read_json(config) if os.path.isfile(config) else json.loads(config))
    vocab: Optional[int] = cfg.pop("vocab_size", None)
    chunk = int(cfg.pop("chunk_tokens", 0))
    hidden_kind: Optional[str] = cfg.pop("hidden", None)
    precision = cfg.pop("precision", "f64")
    if precision not in ("f64", "f32"):
        raise ValueError(f"loss config: field 'precision' is {precision!r}, expected 'f64' or 'f32'")
    loss_cfg = LossConfig.from_dict(cfg)
    fdt = torch.float64 if precision == "f64" else torch.float32
    t = load_file(in_path)

    def get(name: str, required: bool = False) -> Optional[torch.Tensor]:
        if name not in t:
            if required:
                raise ValueError(f"{in_path}: missing tensor '{name}'")
            return None
        return t[name]

    z_s = get("student_logits", True).to(fdt).requires_grad_()  # [N, V]
    n = z_s.shape[0]
    teacher: Any = None
    if get("teacher_logits") is not None:
        teacher = t["teacher_logits"].to(fdt)
    elif get("teacher_ids") is not None:
        teacher = SparseTargets(t["teacher_ids"].long(), get("teacher_logprobs", True).to(fdt))
    labels = get("labels")
    labels = labels.long() if labels is not None else None
    mask = get("mask")
    mask = torch.ones(n, dtype=fdt) if mask is None else mask.to(fdt)
    if chunk:
        parts = distill_loss_chunked(z_s, teacher, labels, mask, loss_cfg, vocab, chunk)
        dense = distill_loss(z_s.detach(), teacher, labels, mask, loss_cfg, vocab)  # per-token telemetry
        token_soft, token_hard = dense.token_soft, dense.token_hard
    else:
        parts = distill_loss(z_s, teacher, labels, mask, loss_cfg, vocab)
        token_soft, token_hard = parts.token_soft, parts.token_hard
    (grad,) = torch.autograd.grad(parts.total, z_s)
    res: Dict[str, torch.Tensor] = {
        "total": parts.total.detach().reshape(1), "soft": parts.soft.reshape(1), "hard": parts.hard.reshape(1),
        "tokens": torch.tensor([float(parts.tokens)]), "grad_student_logits": grad,
        "token_soft": token_soft, "token_hard": token_hard,
    }
    if hidden_kind:
        h_s = get("student_hidden", True).to(fdt).requires_grad_()
        w = get("proj_weight", True).to(fdt).requires_grad_()
        b = get("proj_bias", True).to(fdt).requires_grad_()
        h = hidden_loss(h_s, get("teacher_hidden", True).to(fdt), lambda x: torch.nn.functional.linear(x, w, b),
                        mask, hidden_kind)
        gh, gw, gb = torch.autograd.grad(h, (h_s, w, b))
        res.update(hidden_loss=h.detach().reshape(1), grad_student_hidden=gh, grad_proj_weight=gw, grad_proj_bias=gb)
    save_file({k: v.detach().float().contiguous() for k, v in res.items()}, out)
    return {"total": parts.total.item(), "soft": parts.soft.item(), "hard": parts.hard.item(), "tokens": parts.tokens}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m retort_torch.reference", description="PyTorch reference numbers")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--model", required=True)
    f.add_argument("--ids", required=True, help="comma-separated token ids")
    f.add_argument("--out", required=True)
    f.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    s = sub.add_parser("train-step")
    s.add_argument("--model", required=True)
    s.add_argument("--batch", required=True)
    s.add_argument("--config", required=True)
    s.add_argument("--out", required=True)
    l = sub.add_parser("loss")
    l.add_argument("--in", dest="inp", required=True)
    l.add_argument("--config", required=True)
    l.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        if a.cmd == "forward":
            try:
                ids = [int(x) for x in a.ids.split(",") if x.strip()]
            except ValueError:
                raise ValueError(f"--ids: expected comma-separated integers, got {a.ids!r}") from None
            run_forward(a.model, ids, a.out, a.dtype)
            print(json.dumps({"out": a.out, "tokens": len(ids)}))
        elif a.cmd == "train-step":
            print(json.dumps(run_train_step(a.model, a.batch, a.config, a.out)))
        else:
            print(json.dumps(run_loss(a.inp, a.config, a.out)))
    except (ValueError, OSError) as e:
        print(f"retort_torch.reference {a.cmd}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
