"""The distill recipe: teacher -> student through the spec's stages, in order.

setup()   load student (fp32 master weights; LoRA / QAT), teacher if a stage needs it online, the
          tokenized rows of every stage (fails early on bad data), AdamW, hidden projections;
          with --resume also weights, optimizer, RNG, data cursor and counters
train()   per optimizer step: `gradAccumulation` micro-batches, loss = losses.py with the stage's
          config at this step's temperature, divided by the step's counted tokens (all ranks), so
          the step's gradient is that of the mean over its completion tokens; clip; NaN/Inf guard;
          AdamW at the scheduled lr; step event; eval / early stop / checkpoint when due
save()    checkpoints/step-N (checkpoint.py), atomic

Schedules: the lr curve spans all stages' planned steps (one warm-up at the start); a stage's `lr`
replaces the peak during that stage. The temperature curve spans each stage's own steps.
Feature terms: loss += hidden.weight · mean over layer pairs of hidden_loss(W h_s + b, h_t) and
attention.weight · mean over pairs of attention_map_loss, over the same completion tokens, where
layer l means the output of decoder layer l (hidden_states[l + 1]).
"""
from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn

from .. import checkpoint as ckpt
from .. import distributed as D
from .. import protocol as P
from .. import run_manifest
from ..control import Control
from ..negatives import cycle, split_negatives, unlikelihood
from ..data import BatchPlan, Batch, Row, collate, curriculum_order, load_rows
from ..events import Emitter
from ..generate import generate
from ..losses import HeadLogits, HiddenProjection, LossConfig, SparseTargets, attention_map_loss, distill_loss_chunked, hidden_loss
from ..config import save_config
from ..model import (ADAPTER_WEIGHTS, DTYPE_NAMES, CausalLM, DecoderLayer, apply_lora, as_dtype, autocast,
                     base_state_dict, load_model, save_lora)
from ..safetensors_io import save_checkpoint
from ..qat import apply_qat
from ..on_policy import OnPolicySampler
from ..selective import selection_event, selection_weights
from ..uld import teacher_batch, uld_loss
from ..rl.trainer import rl_stages, rl_value_heads
from ..schedules import lr_at, temperature_at
from ..spec import DistillSpec, SpecError, Stage
from ..tokenizer import eos_ids, load_detokenizer, tokenizer_fingerprint, tokenizer_size
from .common import compute_dtype, load_frozen, resolve, rng_state, seed_everything, set_rng_state, stored_dtype

CHUNK_TOKENS = 1024  # loss chunk: [chunk × vocab] logits at a time, recomputed in backward
SAMPLE_NEW_TOKENS = 48
SELECTION_EVERY = 50  # steps between the selection heatmaps sent to the UI


class Stopped(Exception):
    """Raised inside the loop when a stop was requested; the checkpoint is already written."""


class Diverged(Exception):
    """Too many consecutive non-finite steps."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


@dataclass
class Progress:
    """Everything the loop counts; saved in trainer_state.pt."""
    step: int = 0  # optimizer steps taken (skipped bad steps included), over all stages = next step's index
    tokens: int = 0  # real (non-padding) tokens fed, all ranks, whole job
    stage: int = 0
    stage_step: int = 0
    stage_tokens: int = 0
    bad_steps: int = 0  # consecutive non-finite steps
    best_eval: float = math.inf
    evals_since_best: int = 0
    cursors: Dict[int, Dict[str, int]] = field(default_factory=dict)  # stage -> data cursor
    last_checkpoint: Optional[int] = None


@dataclass
class StageData:
    train: List[Row]
    eval: List[Row]
    file: str
    hash: str
    negatives: List[Row] = field(default_factory=list)  # data.negatives: wrong-token rows (negatives.py)


class DistillJob:
    def __init__(self, spec: DistillSpec, raw_spec: Any, job_dir: str, emitter: Emitter, control: Control,
                 env: D.DistEnv, resume: Optional[str] = None, fsdp: bool = False) -> None:
        self.spec, self.raw_spec, self.job_dir = spec, raw_spec, job_dir
        self.out, self.control, self.env = emitter, control, env
        self.resume_dir, self.fsdp = resume, fsdp
        self.device = env.device
        self.amp = compute_dtype(self.device)
        self.progress = Progress()
        self._last_heatmap = -1
        self.total_steps = sum(s.stop.steps for s in spec.stages)

    # ---- setup ------------------------------------------------------------------------------------

    def setup(self) -> None:
        spec = self.spec
        seed_everything(spec.seed + self.env.rank)
        student_dir = resolve(spec.student.path)
        self.student_dir = student_dir
        needs_teacher = isinstance(spec.student.init, list) or any(
            s.loss.teacher_targets == "online" and (s.loss.soft_weight > 0 or s.loss.hidden or s.loss.attention or s.loss.uld_weight is not None)
            or (s.loss.on_policy is not None and s.loss.on_policy.source == "teacher") for s in spec.stages)
        needs_teacher = needs_teacher or any(s.rl is not None and s.rl.needs_teacher for s in spec.stages)
        self.teacher: Optional[CausalLM] = None
        if needs_teacher:
            self.out.log(f"loading teacher {spec.teacher.path}")
            teacher_device = self.device
            if self.device.type == "cuda" and not self.env.active and torch.cuda.device_count() > 1:
                teacher_device = torch.device("cuda:1")  # own GPU: the student's keeps its memory
            self.teacher = load_frozen(replace(spec.teacher, path=resolve(spec.teacher.path)), teacher_device)
        # the teacher's LM head where the loss runs (a copy only when the teacher has its own GPU)
        self.teacher_head = None if self.teacher is None else self.teacher.lm_head.weight.to(self.device)
        self.out.log(f"loading student {spec.student.path}")
        student = self._load_student(student_dir)
        # checkpoints keep the student's storage dtype; training itself runs on fp32 master weights
        if spec.student.dtype is not None:
            self.save_dtype = as_dtype(spec.student.dtype)
        elif spec.student.init == "pretrained":
            self.save_dtype = stored_dtype(student_dir)
        elif isinstance(spec.student.init, list):
            self.save_dtype = stored_dtype(resolve(spec.teacher.path))
        else:
            self.save_dtype = torch.float32
        self.vocab = self._vocab(student)
        if spec.lora is not None:
            torch.manual_seed(spec.seed)
            apply_lora(student, spec.lora.rank, spec.lora.alpha, spec.lora.dropout, spec.lora.target_modules)
        if spec.qat is not None:
            apply_qat(student, spec.qat)
        self.student = student
        self.projections = self._projections()
        self.projections.update(rl_value_heads(spec.stages, student.config.hidden_size, self.device))
        self.data = [self._stage_data(i, s) for i, s in enumerate(spec.stages)]
        self.detok = load_detokenizer(student_dir)
        self.eos = eos_ids(student_dir)
        self.samplers = {i: OnPolicySampler(s.loss.on_policy, spec.seed + self.env.rank, self.eos, s.data.max_seq_len)
                         for i, s in enumerate(spec.stages) if s.loss.on_policy is not None}
        self.same_tokenizer = self.teacher is None or tokenizer_fingerprint(resolve(spec.teacher.path)) == tokenizer_fingerprint(student_dir)
        self.teacher_vocab = 0 if self.teacher is None else tokenizer_size(resolve(spec.teacher.path), self.teacher.config.vocab_size)
        if self.resume_dir is not None:
            self._resume_weights(self.resume_dir)
        if self.fsdp and self.env.active:
            if any(s.loss.on_policy is not None and s.loss.on_policy.source == "student" for s in spec.stages):
                raise SpecError("spec.json: --fsdp shards the student, which then cannot sample its own continuations; "
                                "loss.onPolicy with source 'student' trains under DDP (run without --fsdp)")
            if spec.lora is not None or len(self.projections):
                raise SpecError("spec.json: --fsdp shards full fine-tuning only; LoRA adapters and hidden-state "
                                "projections train under DDP (run without --fsdp)")
            self.model: nn.Module = D.wrap_fsdp(student, self.env, DecoderLayer, self.amp is not None)
        else:
            self.model = D.wrap_ddp(student, self.env, find_unused=False)
        self.optimizer = self._optimizer()
        self.rl = rl_stages(self)
        if self.resume_dir is not None:
            self._resume_state(self.resume_dir)
        if self.resume_dir is None:
            seed_everything(spec.seed + self.env.rank)  # the training RNG stream does not depend on setup

    def _load_student(self, folder: str) -> CausalLM:
        init = self.spec.student.init
        if init == "pretrained":
            return load_model(folder, dtype=torch.float32, device=self.device)
        from ..config import load_config
        cfg = load_config(folder)
        student = CausalLM(cfg, device=self.device)
        if init == "random":
            g = torch.Generator(device="cpu").manual_seed(self.spec.seed)
            with torch.no_grad():
                for name, p in student.named_parameters():
                    if name.endswith("norm.weight"):
                        p.fill_(1.0)
                    elif name.endswith(".bias"):
                        p.zero_()
                    else:
                        p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            return student
        assert isinstance(init, list) and self.teacher is not None
        t_cfg = self.teacher.config
        where = "student.init.fromTeacherLayers"
        if len(init) != cfg.num_hidden_layers:
            raise SpecError(f"spec.json: {where}: lists {len(init)} layers but the student config has num_hidden_layers {cfg.num_hidden_layers}")
        for i, layer in enumerate(init):
            if layer >= t_cfg.num_hidden_layers:
                raise SpecError(f"spec.json: {where}.{i}: teacher layer {layer} does not exist (the teacher has {t_cfg.num_hidden_layers})")
        t_state = self.teacher.state_dict()
        with torch.no_grad():
            for name, p in student.state_dict().items():
                src = name
                if name.startswith("model.layers."):
                    i, rest = name[len("model.layers."):].split(".", 1)
                    src = f"model.layers.{init[int(i)]}.{rest}"
                if src not in t_state or t_state[src].shape != p.shape:
                    got = None if src not in t_state else list(t_state[src].shape)
                    raise SpecError(f"spec.json: {where}: teacher tensor '{src}' has shape {got}, the student's '{name}' needs {list(p.shape)} (same widths required)")
                p.copy_(t_state[src].to(p.dtype))
        return student

    def _vocab(self, student: CausalLM) -> int:
        size = tokenizer_size(self.student_dir, student.config.vocab_size)
        if size > student.config.vocab_size:
            raise SpecError(f"{self.student_dir}/tokenizer.json: has {size} ids, more than the student's vocab_size {student.config.vocab_size}")
        if self.teacher is not None and any(s.loss.teacher_targets == "online" and s.loss.soft_weight > 0 for s in self.spec.stages):
            t_dir = resolve(self.spec.teacher.path)
            a, b = tokenizer_fingerprint(t_dir), tokenizer_fingerprint(self.student_dir)
            if a is not None and b is not None and a != b:
                raise SpecError(f"spec.json: teacher: the teacher's tokenizer ({t_dir}/tokenizer.json) differs from the student's "
                                f"({self.student_dir}/tokenizer.json); logit distillation needs one vocabulary. Use sequence-level KD "
                                "(loss.onPolicy.source 'teacher', or teacherTargets 'none' on teacher traces) or ULD (loss.uld with divergence 'none')")
            if self.teacher.config.vocab_size < size:
                raise SpecError(f"spec.json: teacher: vocab_size {self.teacher.config.vocab_size} is smaller than the tokenizer's {size} ids")
        return size

    def _projections(self) -> nn.ModuleDict:
        """One learned W, b per (stage, student layer, teacher layer) of hidden-state terms."""
        proj = nn.ModuleDict()
        s_cfg = self.student.config
        for i, stage in enumerate(self.spec.stages):
            for key in ("hidden", "attention"):
                feat = getattr(stage.loss, key)
                if feat is None:
                    continue
                assert self.teacher is not None
                for j, (s, t) in enumerate(feat.layer_map):
                    if s >= s_cfg.num_hidden_layers:
                        raise SpecError(f"spec.json: stages.{i}.loss.{key}.layerMap.{j}: student layer {s} does not exist (the student has {s_cfg.num_hidden_layers})")
                    if t >= self.teacher.config.num_hidden_layers:
                        raise SpecError(f"spec.json: stages.{i}.loss.{key}.layerMap.{j}: teacher layer {t} does not exist (the teacher has {self.teacher.config.num_hidden_layers})")
                    if key == "hidden":
                        torch.manual_seed(self.spec.seed + 7919 * (i + 1) + j)  # same init on every rank
                        proj[f"s{i}_{s}_{t}"] = HiddenProjection(s_cfg.hidden_size, self.teacher.config.hidden_size).to(self.device)
        return proj

    def _stage_data(self, i: int, stage: Stage) -> StageData:
        file = os.path.join(self.job_dir, P.stage_data_file(i))
        shown = f"{P.stage_data_file(i)} (stage '{stage.name}', tokenized from {stage.data.path})"
        rows = load_rows(file, self.vocab, stage.data.max_seq_len, shown)
        rows, negatives = split_negatives(rows, shown) if stage.data.negatives is not None else (rows, [])
        for r in rows:
            if r.trained == 0:
                raise SpecError(f"{shown}:{r.line}: field 'labels': no trained token (all −1); the runner drops such rows")
        if stage.loss.teacher_targets == "offline-topk" and rows[0].topk_ids is None:
            raise SpecError(f"{shown}:{rows[0].line}: field 'teacher_topk': required by loss.teacherTargets 'offline-topk'")
        eval_rows: List[Row] = []
        if self.spec.eval_every > 0:
            if self.spec.eval_dataset is not None:
                eval_file = os.path.join(self.job_dir, P.EVAL_DATA_FILE)
                eval_rows = load_rows(eval_file, self.vocab, None, f"{P.EVAL_DATA_FILE} (tokenized from {self.spec.eval_dataset})")
                eval_rows = eval_rows[:self.spec.eval_max_samples]
            elif len(rows) >= 2:
                n = min(self.spec.eval_max_samples, max(1, len(rows) // 10))
                rows, eval_rows = rows[:-n], rows[-n:]
        return StageData(rows, eval_rows, file, ckpt.file_sha256(file), negatives)

    def _optimizer(self) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for p in list(self.model.parameters()) + list(self.projections.parameters()):
            if p.requires_grad:
                (decay if p.dim() >= 2 else no_decay).append(p)  # biases and norm gains are not decayed
        o = self.spec.optimizer
        return torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=o.lr, betas=o.betas, eps=o.eps)

    # ---- resume -----------------------------------------------------------------------------------

    def _resume_weights(self, folder: str) -> None:
        state_path = os.path.join(folder, P.TRAINER_STATE)
        if not os.path.isfile(state_path):
            raise SpecError(f"--resume {folder}: no {P.TRAINER_STATE} (not a checkpoint of a distill job)")
        # our own file, holding RNG states (Python/NumPy objects): torch >= 2.6 would refuse them by default
        self.trainer_state = torch.load(state_path, map_location="cpu", weights_only=False)
        with torch.no_grad():
            if os.path.isfile(os.path.join(folder, ADAPTER_WEIGHTS)):
                from ..safetensors_io import load_file
                weights = load_file(os.path.join(folder, ADAPTER_WEIGHTS))
                for name, p in self.student.named_parameters():
                    if ".lora_" in name:
                        p.copy_(weights["base_model.model." + name])
            else:
                master = self.trainer_state.get("master_weights")
                if master is None:
                    loaded = load_model(folder, dtype=torch.float32, device="cpu")
                    master = base_state_dict(loaded)
                params = dict(self.student.named_parameters())
                for name, t in master.items():
                    params[name].copy_(t)
            self.projections.load_state_dict(self.trainer_state["projections"])

    def _resume_state(self, folder: str) -> None:
        s = self.trainer_state
        if self.fsdp and self.env.active:
            self.optimizer.load_state_dict(D.shard_optim_state_dict(s["optimizer"], self.model, self.optimizer))
        else:
            self.optimizer.load_state_dict(s["optimizer"])
        p = s["progress"]
        self.progress = Progress(**{**p, "cursors": {int(k): v for k, v in p["cursors"].items()}})
        rngs = s["rng"]
        set_rng_state(rngs[self.env.rank] if self.env.rank < len(rngs) else rngs[0])
        self._check_manifest(folder)
        self.out.log(f"resumed from {folder} at step {self.progress.step} (stage '{self.spec.stages[self.progress.stage].name}')")

    def _check_manifest(self, folder: str) -> None:
        """The checkpoint's run manifest must describe this run; changed data only warns (a fixed typo in a row
        should not throw a long run away), a different step or seed means the folder is another run's."""
        if not os.path.isfile(os.path.join(folder, run_manifest.FILE)):  # written before the shared format
            self.out.log(f"--resume {folder}: no {run_manifest.FILE}; trusting {P.TRAINER_STATE}", "warn")
            return
        try:
            m = run_manifest.read(folder)
        except run_manifest.ManifestError as e:
            raise SpecError(f"--resume {folder}: {e}") from None
        if m["step"] != self.progress.step or m["seed"] != self.spec.seed:
            raise SpecError(f"--resume {folder}: {run_manifest.FILE} says step {m['step']}, seed {m['seed']}; "
                            f"{P.TRAINER_STATE} and spec.json say step {self.progress.step}, seed {self.spec.seed}")
        changed = sorted(k for k, h in self._data_hashes().items() if m["data"].get(k) != h)
        if changed:
            self.out.log(f"--resume {folder}: training data changed since the checkpoint ({', '.join(changed)}); "
                         "the data cursor continues over the new rows", "warn")

    # ---- checkpoints ------------------------------------------------------------------------------

    def save(self) -> str:
        """Write checkpoints/step-N for the current step on rank 0; every rank takes part (FSDP gathers)."""
        step = self.progress.step
        if self.fsdp and self.env.active:
            state: Optional[Dict[str, torch.Tensor]] = D.full_state_dict(self.model, self.env)
            optim = D.full_optim_state_dict(self.model, self.optimizer)
        else:
            state, optim = None, self.optimizer.state_dict()
        rngs = [rng_state()]
        if self.env.active:
            gathered: List[Any] = [None] * self.env.world
            torch.distributed.all_gather_object(gathered, rngs[0])
            rngs = gathered
        path = ckpt.step_dir(self.job_dir, step)
        if self.env.is_main:
            path = ckpt.write_atomic(self.job_dir, step, lambda tmp: self._fill_checkpoint(tmp, state, optim, rngs))
            ckpt.prune(self.job_dir, self.spec.keep_last)
            self.out.emit(P.checkpoint_event(step, os.path.abspath(path), ckpt.folder_bytes(path)))
        self.progress.last_checkpoint = step
        D.barrier(self.env)
        return path

    def _fill_checkpoint(self, tmp: str, gathered: Optional[Dict[str, torch.Tensor]], optim: Any, rngs: List[Any]) -> None:
        """`gathered`: the unsharded weights under FSDP (the module itself holds shards), else None."""
        student = self.student
        master: Optional[Dict[str, torch.Tensor]] = None
        if self.spec.lora is not None:
            if gathered is not None:
                raise SpecError("spec.json: lora: LoRA with --fsdp is not supported; use DDP (drop --fsdp) for adapters")
            save_lora(student, tmp, base_model_name_or_path=self.spec.student.path)
        else:
            weights = base_state_dict(student) if gathered is None else {
                k: v for k, v in gathered.items() if ".lora_" not in k and not (k == "lm_head.weight" and student.config.tie_word_embeddings)}
            student.config.extra["torch_dtype"] = DTYPE_NAMES.get(self.save_dtype, "float32")
            save_config(student.config, tmp)
            save_checkpoint({k: v.detach().to("cpu", self.save_dtype) for k, v in weights.items()}, tmp)
            if self.save_dtype != torch.float32:  # exact resume needs the fp32 master copy
                master = {k: v.detach().to("cpu", torch.float32).clone() for k, v in weights.items()}
        ckpt.copy_tokenizer_files(self.student_dir, tmp)
        cfg = student.config
        ckpt.write_generation_config(self.student_dir, tmp, cfg.bos_token_id, cfg.eos_token_id)
        p = self.progress
        trainer_state = {
            "progress": {**p.__dict__, "cursors": {str(k): v for k, v in p.cursors.items()}},
            "optimizer": optim, "rng": rngs, "projections": self.projections.state_dict(), "fsdp": gathered is not None,
            "master_weights": master, "world": self.env.world,
        }
        torch.save(trainer_state, os.path.join(tmp, P.TRAINER_STATE))
        stage = min(p.stage, len(self.spec.stages) - 1)
        run_manifest.write(tmp, run_manifest.build(self.raw_spec, self.spec.seed, self._data_hashes(), ckpt.code_version(),
                                                   p.step, stage, f"torch {torch.__version__}", self.env.world))

    def _data_hashes(self) -> Dict[str, str]:
        return {f"stage-{i}": d.hash for i, d in enumerate(self.data)}

    # ---- the loop ---------------------------------------------------------------------------------

    def train(self) -> str:
        """Run (or continue) every stage; returns 'finished' or 'stopped'. Raises Diverged."""
        try:
            for i in range(self.progress.stage, len(self.spec.stages)):
                if i != self.progress.stage:
                    self.progress = _next_stage(self.progress, i)
                self._run_stage(i)
            self.progress = _next_stage(self.progress, len(self.spec.stages))
        except Stopped:
            return "stopped"
        if self.progress.last_checkpoint != self.progress.step:
            self.save()
        self._export_output()
        return "finished"

    def _run_stage(self, index: int) -> None:
        stage, data, p = self.spec.stages[index], self.data[index], self.progress
        self.out.log(f"stage {index + 1}/{len(self.spec.stages)} '{stage.name}': {stage.stop.steps} steps, "
                     f"{len(data.train)} rows, " + (f"RL {stage.rl.algorithm} (loss not used)" if stage.rl else
                                                     f"teacher {stage.loss.teacher_targets}, divergence {stage.loss.divergence}"))
        self.out.progress(p.step, self.total_steps, "steps")
        plan = BatchPlan(len(data.train), self.spec.seed + 1009 * index, curriculum_order(data.train, stage.data.curriculum))
        if index in p.cursors:
            plan.load_state(p.cursors[index])
        while p.stage_step < stage.stop.steps and not self._stage_over(stage):
            self._obey_control()
            rows = plan.step_rows(self.spec.micro_batch, self.spec.grad_accumulation, self.env.rank, self.env.world)
            micro = [[data.train[r] for r in mb] for mb in rows]
            metrics = self._rl_step(index, micro) if index in self.rl else self._optimizer_step(stage, micro)
            p.cursors[index] = plan.state()
            if metrics is not None:
                self.out.emit(P.step_event(p.step, index, metrics.pop("loss"), metrics))
            p.step += 1
            p.stage_step += 1
            if self.spec.eval_every and p.step % self.spec.eval_every == 0 and data.eval:
                self._evaluate(index, data)
            if self.spec.checkpoint_every and p.step % self.spec.checkpoint_every == 0:
                self.save()
        if self._stage_over(stage):
            why = "early stop: no eval improvement" if stage.stop.early_stop_patience is not None and \
                p.evals_since_best >= stage.stop.early_stop_patience else f"token budget {stage.stop.max_tokens} reached"
            self.out.log(f"stage '{stage.name}' ends at step {p.step}: {why}")

    def _stage_over(self, stage: Stage) -> bool:
        """Ended before its planned steps (early stopping, token budget); checked on resume too."""
        p, stop = self.progress, stage.stop
        return (stop.early_stop_patience is not None and p.evals_since_best >= stop.early_stop_patience) or \
            (stop.max_tokens is not None and p.stage_tokens >= stop.max_tokens)

    def _obey_control(self) -> None:
        stop, pause = D.broadcast_flags(self.env, [self.control.stop_requested, self.control.pause_requested])
        if pause and not stop:
            self.out.state("paused")
            while pause and not stop:
                self.control.wait_while_paused(0.2)
                stop, pause = D.broadcast_flags(self.env, [self.control.stop_requested, self.control.pause_requested])
            if not stop:
                self.out.state("running")
        if stop:
            if self.progress.last_checkpoint != self.progress.step:
                self.save()
            else:
                self.out.emit(P.checkpoint_event(self.progress.step, os.path.abspath(ckpt.step_dir(self.job_dir, self.progress.step))))
            raise Stopped()

    # ---- one optimizer step -------------------------------------------------------------------------

    def _loss_config(self, stage: Stage, temperature: float) -> LossConfig:
        l = stage.loss
        return LossConfig(divergence="forward-kl" if l.divergence == "none" else l.divergence, alpha=l.soft_weight,
                          temperature=temperature, beta=l.beta, skew=l.lam)

    def _optimizer_step(self, stage: Stage, micro: List[List[Row]]) -> Optional[Dict[str, float]]:
        p, o = self.progress, self.spec.optimizer
        started = time.perf_counter()
        temperature = temperature_at(stage.loss.temperature, p.stage_step, stage.stop.steps)
        lr = lr_at(stage.lr or o.lr, o.schedule, p.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        micro, picked = self._sampled_rows(stage, micro)
        by_student = stage.loss.on_policy is not None and stage.loss.on_policy.source == "student"
        batches = [collate(rows) for rows in micro]
        where = f"{self.data[p.stage].file} (stage '{stage.name}')"
        t_batches = [teacher_batch(rows, self.same_tokenizer, where, self.teacher_vocab) if stage.loss.uld_weight is not None else None
                     for rows in micro]
        counted, real = D.all_sum(self.env, [float(sum(int(b.mask.sum()) for b in batches)),
                                             float(sum(int(b.real.sum()) for b in batches))])
        cfg = self._loss_config(stage, temperature)
        self.model.train()
        sums = {"loss": 0.0, "soft": 0.0, "hard": 0.0, "hidden": 0.0, "attention": 0.0, "uld": 0.0}
        for j, batch in enumerate(batches):
            last = j == len(batches) - 1
            sync = self.model.no_sync() if self.env.active and not last and hasattr(self.model, "no_sync") else _null()
            with sync:
                t_batch = t_batches[j]
                # the student's own samples have no reference: only the divergence to the teacher trains on them (GKD)
                mcfg = replace(cfg, alpha=1.0) if picked[j] and by_student else cfg
                parts = self._forward_loss(batch.to(self.device), stage, mcfg, counted, None if t_batch is None else t_batch.to(self.device))
                loss = parts["loss_tensor"]
                (loss * self.env.world).backward()  # DDP averages over ranks; the normalizer already covers them
            for k in sums:
                sums[k] += parts[k]
        if stage.data.negatives is not None and self.data[p.stage].negatives:
            sums["unlikelihood"] = self._unlikelihood(stage, self.data[p.stage].negatives)
            sums["loss"] += stage.data.negatives.weight * sums["unlikelihood"]
        if self.env.active:
            self._all_reduce_projection_grads()
        params = [q for g in self.optimizer.param_groups for q in g["params"]]
        max_norm = o.grad_clip if o.grad_clip > 0 else math.inf
        if self.fsdp and hasattr(self.model, "clip_grad_norm_"):
            norm = float(self.model.clip_grad_norm_(max_norm))  # type: ignore[operator]
        else:
            norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        totals = D.all_sum(self.env, [sums[k] for k in sums])
        sums = dict(zip(sums, totals))
        finite = math.isfinite(norm) and all(math.isfinite(v) for v in sums.values())
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            p.bad_steps += 1
            where = f"step {p.step}, stage '{stage.name}'"
            self.out.error(f"non-finite loss or gradient (loss {sums['loss']}, grad norm {norm}); step skipped "
                           f"({p.bad_steps} in a row, limit {self.spec.max_bad_steps})", recoverable=True, where=where)
            if p.bad_steps >= self.spec.max_bad_steps:
                last = p.last_checkpoint
                kept = ckpt.step_dir(self.job_dir, last) if last is not None else "none written yet"
                raise Diverged(f"{p.bad_steps} consecutive non-finite steps (limit {self.spec.max_bad_steps}); "
                               f"training stopped, the last good checkpoint is {kept}", where)
            p.stage_tokens += int(real)
            p.tokens += int(real)
            return None
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        p.bad_steps = 0
        p.stage_tokens += int(real)
        p.tokens += int(real)
        elapsed = max(time.perf_counter() - started, 1e-9)
        metrics = {"loss": sums["loss"], "soft": sums["soft"], "hard": sums["hard"], "temperature": temperature, "lr": lr,
                   "grad_norm": norm, "tokens_per_s": real / elapsed, "tokens": float(p.tokens),
                   "loss_tokens": counted, "step_ms": elapsed * 1000}
        if stage.loss.hidden is not None:
            metrics["hidden"] = sums["hidden"]
        if stage.loss.attention is not None:
            metrics["attention"] = sums["attention"]
        if "unlikelihood" in sums:
            metrics["unlikelihood"] = sums["unlikelihood"]
        if stage.loss.uld_weight is not None:
            metrics["uld"] = sums["uld"]
        if stage.loss.on_policy is not None:
            metrics["on_policy"] = sum(picked) / len(picked)
        return metrics

    def _sampled_rows(self, stage: Stage, micro: List[List[Row]]) -> "tuple[List[List[Row]], List[bool]]":
        """GKD: micro-batches the sampler picks get sampled continuations (on_policy.py); returns the
        rows and, per micro-batch, whether it was sampled."""
        sampler = self.samplers.get(self.progress.stage)
        if sampler is None:
            return micro, [False] * len(micro)
        cfg = stage.loss.on_policy
        assert cfg is not None
        model = D.unwrap(self.model) if cfg.source == "student" else self.teacher
        assert model is not None
        out, picked = [], []
        for j, rows in enumerate(micro):
            chosen = sampler.chosen(self.progress.step, j)
            out.append(sampler.sample(model, rows, self.progress.step, j, self.amp) if chosen else rows)  # type: ignore[arg-type]
            picked.append(chosen)
        return out, picked

    def _rl_step(self, index: int, micro: List[List[Row]]) -> Dict[str, float]:
        """An RL stage's step (rl/trainer.py): rollouts on the rows' prompts, then PPO or GRPO updates."""
        stage, p, o = self.spec.stages[index], self.progress, self.spec.optimizer
        lr = lr_at(stage.lr or o.lr, o.schedule, p.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        metrics = self.rl[index].step([r for mb in micro for r in mb], p.step, self.optimizer, o.grad_clip)
        p.stage_tokens += int(metrics["loss_tokens"])
        p.tokens += int(metrics["loss_tokens"])
        return {**metrics, "lr": lr, "tokens": float(p.tokens)}

    def _unlikelihood(self, stage: Stage, negatives: List[Row]) -> float:
        """weight · unlikelihood of this step's negatives' wrong tokens (negatives.py), back-propagated;
        returns this rank's share of the mean (every rank takes the same negatives)."""
        cfg = stage.data.negatives
        assert cfg is not None
        batch = collate(cycle(negatives, self.progress.step, cfg.batch)).to(self.device)
        with autocast(self.device, self.amp):
            out = self.model(batch.ids, attention_mask=batch.attention_mask(), position_ids=batch.positions)
            ul = unlikelihood(out.logits, batch.labels, self.vocab)
        (cfg.weight * ul).backward()
        return float(ul.detach()) / self.env.world

    def _all_reduce_projection_grads(self) -> None:
        for q in self.projections.parameters():
            if q.grad is not None:
                torch.distributed.all_reduce(q.grad)
                q.grad /= self.env.world

    def _forward_loss(self, batch: Batch, stage: Stage, cfg: LossConfig, normalizer: float,
                      t_batch: Optional[Batch] = None) -> Dict[str, Any]:
        """This rank's share of the step loss for one micro-batch: sums over its counted tokens
        divided by `normalizer` (the step's counted tokens on all ranks)."""
        loss_cfg = stage.loss
        feats = [f for f in (loss_cfg.hidden, loss_cfg.attention) if f is not None]
        s_layers = tuple(sorted({s for s, _ in loss_cfg.attention.layer_map})) if loss_cfg.attention else ()
        t_layers = tuple(sorted({t for _, t in loss_cfg.attention.layer_map})) if loss_cfg.attention else ()
        by_attention = loss_cfg.selection is not None and loss_cfg.selection.by == "teacher-attention"
        if by_attention and self.teacher is not None:
            t_layers = tuple(sorted(set(t_layers) | {self.teacher.config.num_hidden_layers - 1}))
        mask = batch.mask
        am = batch.attention_mask()
        use_logits = self.fsdp and self.env.active  # FSDP frees lm_head outside forward: take logits from it
        with autocast(self.device, self.amp):
            out = self.model(batch.ids, attention_mask=am, position_ids=batch.positions,
                             output_hidden_states=loss_cfg.hidden is not None, compute_logits=use_logits,
                             output_attentions=s_layers)
            teacher: Any = None
            t_out = None
            if loss_cfg.teacher_targets == "online" and (cfg.alpha > 0 or feats):
                assert self.teacher is not None
                t_dev = next(self.teacher.parameters()).device
                with torch.no_grad():
                    t_out = self.teacher(batch.ids.to(t_dev), attention_mask=None if am is None else am.to(t_dev),
                                         position_ids=batch.positions.to(t_dev), output_hidden_states=loss_cfg.hidden is not None,
                                         compute_logits=False, output_attentions=t_layers)
                teacher = HeadLogits(t_out.last_hidden_state.to(self.device), self.teacher_head)
            elif loss_cfg.teacher_targets == "offline-topk" and cfg.alpha > 0:
                assert batch.topk_ids is not None and batch.topk_logprobs is not None
                teacher = SparseTargets(batch.topk_ids, batch.topk_logprobs)
            student: Any = out.logits if use_logits else HeadLogits(out.last_hidden_state, D.unwrap(self.model).lm_head.weight)
            labels = torch.where(mask.bool(), batch.labels, torch.zeros_like(batch.labels))
            weight = None
            if loss_cfg.selection is not None and isinstance(teacher, HeadLogits) and t_out is not None:
                last = t_out.attentions[max(t_layers)] if by_attention and t_out.attentions else None
                weight = selection_weights(loss_cfg.selection, teacher, last, mask, cfg.temperature, self.vocab)
                if self._selection_due():
                    self.out.emit(selection_event(self.progress.step, batch.ids[0].tolist(), batch.labels[0].tolist(),
                                                  weight[0].tolist(), self.detok))  # type: ignore[arg-type]
            parts = distill_loss_chunked(student, teacher, labels, mask, cfg, vocab_size=self.vocab,
                                         chunk_tokens=CHUNK_TOKENS, normalizer=normalizer, token_weight=weight)
            total = parts.total + 0.0 * out.last_hidden_state.sum()  # keeps every rank's graph connected
            hid = att = torch.zeros((), device=self.device)
            if loss_cfg.hidden is not None and t_out is not None and int(mask.sum()) > 0:
                index = self.spec.stages.index(stage)
                pairs = loss_cfg.hidden.layer_map
                for s, t in pairs:
                    proj = self.projections[f"s{index}_{s}_{t}"]
                    h_t = t_out.hidden_states[t + 1].to(self.device)  # type: ignore[index]
                    hid = hid + hidden_loss(out.hidden_states[s + 1], h_t, proj, mask, loss_cfg.hidden.kind, normalizer)  # type: ignore[index]
                hid = hid / len(pairs)
                total = total + loss_cfg.hidden.weight * hid
            if loss_cfg.attention is not None and t_out is not None and int(mask.sum()) > 0:
                pairs = loss_cfg.attention.layer_map
                for s, t in pairs:
                    att = att + attention_map_loss(out.attentions[s], t_out.attentions[t].to(self.device), mask, normalizer)  # type: ignore[index]
                att = att / len(pairs)
                total = total + loss_cfg.attention.weight * att
            uld = torch.zeros((), device=self.device)
            if loss_cfg.uld_weight is not None and t_batch is not None and int(mask.sum()) > 0:
                uld = self._uld(student, mask, t_batch, normalizer)
                total = total + loss_cfg.uld_weight * uld
        return {"loss_tensor": total, "loss": float(total.detach()), "soft": float(parts.soft), "hard": float(parts.hard),
                "hidden": float(hid.detach()), "attention": float(att.detach()), "uld": float(uld.detach())}

    def _selection_due(self) -> bool:
        """One selection heatmap per SELECTION_EVERY steps (first micro-batch of the step, main rank, training)."""
        key = self.progress.step
        due = self.detok is not None and self.env.is_main and self.model.training and key % SELECTION_EVERY == 0 and key != self._last_heatmap
        if due:
            self._last_heatmap = key
        return due

    def _uld(self, student: Any, mask: torch.Tensor, t_batch: Batch, normalizer: float) -> torch.Tensor:
        """ULD term (uld.py): the teacher runs on its own tokenization of the rows."""
        assert self.teacher is not None
        t_dev = next(self.teacher.parameters()).device
        with torch.no_grad():
            t_am = t_batch.attention_mask()
            t_out = self.teacher(t_batch.ids.to(t_dev), attention_mask=None if t_am is None else t_am.to(t_dev),
                                 position_ids=t_batch.positions.to(t_dev), compute_logits=False)
        teacher = HeadLogits(t_out.last_hidden_state.to(self.device), self.teacher_head)
        return uld_loss(student, mask, teacher, t_batch.mask, self.vocab, self.teacher_vocab, normalizer)

    # ---- evaluation -------------------------------------------------------------------------------

    @torch.no_grad()
    def _evaluate(self, index: int, data: StageData) -> None:
        """Loss on the eval rows at the current temperature (eval_loss), emitted as an eval event;
        updates the early-stopping counters."""
        p, stage = self.progress, self.spec.stages[index]
        temperature = temperature_at(stage.loss.temperature, max(0, p.stage_step - 1), stage.stop.steps)
        cfg = self._loss_config(stage, temperature)
        if stage.loss.teacher_targets == "offline-topk" and data.eval[0].topk_ids is None:
            cfg.alpha = 0.0  # eval rows without cached targets: cross-entropy only
        self.model.eval()
        mine = data.eval[self.env.rank::self.env.world]
        totals = [0.0, 0.0, 0.0, 0.0]  # loss·n, soft·n, hard·n, n
        for i in range(0, len(mine), self.spec.micro_batch):
            batch = collate(mine[i:i + self.spec.micro_batch]).to(self.device)
            n = float(batch.mask.sum())
            if n == 0:
                continue
            parts = self._forward_loss(batch, stage, cfg, n)
            for k, v in enumerate((parts["loss"], parts["soft"], parts["hard"])):
                totals[k] += v * n
            totals[3] += n
        totals = D.all_sum(self.env, totals)
        n = max(totals[3], 1.0)
        metrics = {"eval_loss": totals[0] / n, "soft": totals[1] / n, "hard": totals[2] / n, "temperature": temperature}
        self.out.emit(P.eval_event(p.step - 1, index, metrics))
        if self.env.is_main and self.detok is not None and not self.fsdp:
            self._sample(data.eval[0])
        self.model.train()
        if metrics["eval_loss"] < p.best_eval:
            p.best_eval, p.evals_since_best = metrics["eval_loss"], 0
        else:
            p.evals_since_best += 1

    def _sample(self, row: Row) -> None:
        """The student's greedy continuation of an eval row's prompt, for the outputs view."""
        assert self.detok is not None
        first = next(i for i, l in enumerate(row.labels) if l >= 0)
        prompt = torch.tensor([row.ids[:first + 1]], device=self.device)
        model = D.unwrap(self.model)
        with autocast(self.device, self.amp):
            out = generate(model, prompt, SAMPLE_NEW_TOKENS, eos_token_ids=self.eos)  # type: ignore[arg-type]
        text = self.detok.decode(out[0, prompt.shape[1]:].tolist())
        self.out.emit(P.sample_event(self.progress.step - 1, self.detok.decode(row.ids[:first + 1]), text, "student"))

    def _export_output(self) -> None:
        """Copy the final model (not the trainer state) to output.dir when the spec names one."""
        if self.spec.output_dir is None or not self.env.is_main:
            return
        dst = resolve(self.spec.output_dir)
        src = ckpt.step_dir(self.job_dir, self.progress.step)
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            if name != P.TRAINER_STATE:
                shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
        self.out.log(f"final model written to {dst}")


def _next_stage(p: Progress, index: int) -> Progress:
    return Progress(step=p.step, tokens=p.tokens, stage=index, stage_step=0, stage_tokens=0, bad_steps=p.bad_steps,
                    cursors=p.cursors, last_checkpoint=p.last_checkpoint)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def run(spec: DistillSpec, raw_spec: Any, job_dir: str, emitter: Emitter, control: Control, env: D.DistEnv,
        resume: Optional[str], fsdp: bool = False) -> str:
    job = DistillJob(spec, raw_spec, job_dir, emitter, control, env, resume, fsdp)
    job.setup()
    return job.train()
