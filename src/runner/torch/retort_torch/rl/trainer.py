"""One step of an RL stage (distill.py calls `RLStage.step` instead of its supervised step):

    rollout    each of the step's prompts (dataset rows cut before their first trained label) is
               continued `groupSize` times by the student at `temperature`, up to eos or `maxNewTokens`
    score      without gradients: the student's log π_old(a_t) per action token, the value head's
               V(s_t) (PPO), log π_ref(a_t) of the KL target (teacher, or the student frozen as the stage began)
    reward     R = taskWeight · correct(answer) + similarityWeight · sim(answer, teacher's answer)
    advantage  PPO: token rewards r_t = −β·(log π_old − log π_ref), plus R on the last token; GAE(γ, λ)
               on the value head's estimates, whitened over the batch.
               GRPO: (R − mean of its group) / std of its group on every token of the answer; the KL is
               a loss term β·k3 instead of a reward.
    update     `epochs` optimizer steps on the same rollouts: clipped policy loss (+ valueCoef · clipped
               value loss for PPO), token-averaged over the batch, processed microBatch sequences at a time.

A stage `step` is one rollout batch (microBatch × gradAccumulation prompts) and `epochs` updates.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import Batch, Row, collate
from ..model import CausalLM, autocast
from ..on_policy import OnPolicySampler, prompt_length
from ..spec import OnPolicy
from .advantages import gae, group_relative, masked_mean, masked_whiten
from .config import RLConfig
from .objective import clipped_policy_loss, clipped_value_loss, kl_k1, kl_k3
from .rewards import SIMILARITIES, task_reward


def value_head(hidden_size: int, device: torch.device) -> nn.Linear:
    """V(s_t), a linear probe of the student's last hidden state; zero-initialised so the first advantages are the
    plain discounted rewards rather than noise from a random head."""
    head = nn.Linear(hidden_size, 1, device=device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor, vocab: int) -> torch.Tensor:
    """log p(labels[t]) under logits[:, t] (padded vocabulary rows sliced off), 0 where labels < 0."""
    logp = F.log_softmax(logits[..., :vocab].float(), dim=-1)  # [B, T, V]
    picked = logp.gather(-1, labels.clamp(min=0)[..., None])[..., 0]  # [B, T]
    return picked * (labels >= 0)


class RLStage:
    def __init__(self, cfg: RLConfig, model: nn.Module, policy: CausalLM, teacher: Optional[CausalLM],
                 value: Optional[nn.Module], detok, eos: Sequence[int], vocab: int, seed: int, max_len: int,  # type: ignore[no-untyped-def]
                 micro_batch: int, device: torch.device, amp: Optional[torch.dtype]) -> None:
        self.cfg, self.model, self.policy, self.teacher, self.value = cfg, model, policy, teacher, value
        self.detok, self.eos, self.vocab, self.micro_batch = detok, set(eos), vocab, micro_batch
        self.device, self.amp = device, amp
        self.sampler = OnPolicySampler(OnPolicy(1.0, "student", cfg.temperature, cfg.max_new_tokens), seed, eos, max_len)
        self.greedy = OnPolicySampler(OnPolicy(1.0, "teacher", 0.0, cfg.max_new_tokens), seed, eos, max_len)
        self.reference: Optional[CausalLM] = None  # the frozen student, made at the stage's first step
        self.teacher_answers: Dict[Tuple[int, ...], List[int]] = {}

    # ---- rollouts and rewards ---------------------------------------------------------------------

    def _answer(self, ids: Sequence[int]) -> List[int]:
        return [t for t in ids if t not in self.eos]

    def _references(self, rows: Sequence[Row], step: int) -> List[List[int]]:
        """The teacher's answer to each prompt: the data's completion, or the teacher's greedy one (cached)."""
        if self.cfg.reference == "data":
            return [self._answer([l for l in r.labels if l >= 0]) for r in rows]
        assert self.teacher is not None
        missing = [r for r in rows if tuple(r.ids[:prompt_length(r)]) not in self.teacher_answers]
        if missing:
            for r, out in zip(missing, self.greedy.sample(self.teacher, missing, step, 1, self.amp)):
                n = prompt_length(r)
                self.teacher_answers[tuple(r.ids[:n])] = self._answer(out.ids[n:])
        return [self.teacher_answers[tuple(r.ids[:prompt_length(r)])] for r in rows]

    def _rewards(self, rollouts: Sequence[Row], prompts: Sequence[Row], refs: Sequence[List[int]]) -> Dict[str, torch.Tensor]:
        sim_fn = SIMILARITIES[self.cfg.similarity]
        total, task, sim, length = [], [], [], []
        for i, row in enumerate(rollouts):
            g = i // self.cfg.group_size
            answer = self._answer(row.ids[prompt_length(prompts[g]):])
            s = sim_fn(answer, refs[g])
            t = None
            if self.detok is not None:
                t = task_reward(self.detok.decode(answer), self.detok.decode(refs[g]))
            t = 0.0 if t is None else t
            total.append(self.cfg.task_weight * t + self.cfg.similarity_weight * s)
            task.append(t)
            sim.append(s)
            length.append(len(answer))
        as_t = lambda xs: torch.tensor(xs, dtype=torch.float32, device=self.device)  # noqa: E731
        return {"reward": as_t(total), "task": as_t(task), "sim": as_t(sim), "length": as_t(length)}

    # ---- scoring ------------------------------------------------------------------------------------

    def _forward(self, model: nn.Module, batch: Batch, with_value: bool) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(log π(a_t) [B, T], V(s_t) [B, T] or None) for the batch's action tokens."""
        with autocast(self.device, self.amp):
            out = model(batch.ids, attention_mask=batch.attention_mask(), position_ids=batch.positions)
            logp = token_logprobs(out.logits, batch.labels, self.vocab)
            values = None
            if with_value and self.value is not None:
                # the critic reads the trunk without training it: with one shared trunk and one grad-norm
                # clip, the value loss's gradient (large while V is poor) swamps the policy's and drags the
                # student off its language model (measured on the demo: reward fell, KL rose)
                values = self.value(out.last_hidden_state.detach().float())[..., 0] * batch.mask
        return logp, values

    @torch.no_grad()
    def _logprobs_of(self, target: CausalLM, batch: Batch) -> torch.Tensor:
        t_dev = next(target.parameters()).device
        am = batch.attention_mask()
        with autocast(self.device, self.amp):
            out = target(batch.ids.to(t_dev), attention_mask=None if am is None else am.to(t_dev),
                         position_ids=batch.positions.to(t_dev))
        return token_logprobs(out.logits.to(self.device), batch.labels, self.vocab)

    # ---- the step -----------------------------------------------------------------------------------

    def step(self, rows: Sequence[Row], step: int, optimizer: torch.optim.Optimizer, grad_clip: float) -> Dict[str, float]:
        """Rollouts on `rows`' prompts, then `epochs` optimizer updates; returns the step's metrics."""
        cfg, started = self.cfg, time.perf_counter()
        if self.reference is None and cfg.kl_target == "reference":
            self.reference = copy.deepcopy(self.policy).eval().requires_grad_(False)
        refs = self._references(rows, step)
        rollouts = self.sampler.sample(self.policy, [r for r in rows for _ in range(cfg.group_size)], step, 0, self.amp)
        rewards = self._rewards(rollouts, rows, refs)
        batch = collate(rollouts).to(self.device)
        mask = batch.mask
        with torch.no_grad():
            logp_old, values_old = self._forward(self.model, batch, with_value=cfg.algorithm == "ppo")
            target = self.teacher if cfg.kl_target == "teacher" else self.reference
            assert target is not None
            logp_ref = self._logprobs_of(target, batch)
            # the bound is on the KL to the teacher: measured even when the penalty is to the frozen student
            kl_teacher = None if self.teacher is None or target is self.teacher else \
                float((kl_k1(logp_old, self._logprobs_of(self.teacher, batch)) * mask).sum() / mask.sum().clamp(min=1))
        kl = kl_k1(logp_old, logp_ref) * mask
        if cfg.algorithm == "ppo":
            assert values_old is not None
            last = mask * (mask.cumsum(1) == mask.sum(1, keepdim=True))  # [B, T] 1 on each row's last action
            token_rewards = -cfg.kl_coef * kl + last * rewards["reward"][:, None]
            raw_adv, returns = gae(token_rewards, values_old, mask, cfg.gamma, cfg.gae_lambda)
            adv = masked_whiten(raw_adv, mask)
        else:
            raw_adv = group_relative(rewards["reward"], cfg.group_size)[:, None] * mask
            adv, returns = raw_adv, None
        parts = self._update(batch, adv, logp_old, logp_ref, values_old, returns, optimizer, grad_clip)
        elapsed = time.perf_counter() - started
        tokens = float(mask.sum())
        adv_mean = masked_mean(raw_adv, mask)
        return {
            **parts, **({} if kl_teacher is None else {"kl_teacher": kl_teacher}),
            "reward": float(rewards["reward"].mean()), "reward_task": float(rewards["task"].mean()),
            "reward_sim": float(rewards["sim"].mean()), "kl": float(kl.sum() / max(tokens, 1.0)),
            "kl_seq": float(kl.sum(1).mean()), "adv_mean": float(adv_mean),
            "adv_std": float(masked_mean((raw_adv - adv_mean) ** 2, mask).sqrt()),
            "response_len": float(rewards["length"].mean()), "loss_tokens": tokens,
            "tokens_per_s": float(batch.real.sum()) * cfg.epochs / max(elapsed, 1e-9), "step_ms": elapsed * 1000,
        }

    def _update(self, batch: Batch, adv: torch.Tensor, logp_old: torch.Tensor, logp_ref: torch.Tensor,
                values_old: Optional[torch.Tensor], returns: Optional[torch.Tensor], optimizer: torch.optim.Optimizer,
                grad_clip: float) -> Dict[str, float]:
        cfg, mask = self.cfg, batch.mask
        total_tokens = float(mask.sum())
        params = [p for g in optimizer.param_groups for p in g["params"]]
        sums: Dict[str, float] = {}
        skipped = 0
        for _ in range(cfg.epochs):
            sums = {"loss": 0.0, "policy_loss": 0.0, "value_loss": 0.0, "kl_loss": 0.0, "clip_frac": 0.0}
            self.model.train()
            for at in range(0, batch.ids.shape[0], self.micro_batch):
                rows = slice(at, at + self.micro_batch)
                part = Batch(batch.ids[rows], batch.labels[rows], batch.positions[rows], batch.doc[rows], batch.packed)
                m = part.mask
                share = float(m.sum()) / max(total_tokens, 1.0)  # token average over the whole batch
                logp, values = self._forward(self.model, part, with_value=returns is not None)
                pg, clip_frac = clipped_policy_loss(logp, logp_old[rows], adv[rows], m, cfg.clip)
                loss, terms = pg, {"policy_loss": pg, "clip_frac": clip_frac}
                if returns is not None:
                    assert values is not None and values_old is not None
                    vf = clipped_value_loss(values, values_old[rows], returns[rows], m, cfg.clip)
                    loss, terms["value_loss"] = loss + cfg.value_coef * vf, vf
                else:
                    kl = masked_mean(kl_k3(logp, logp_ref[rows]), m)
                    loss, terms["kl_loss"] = loss + cfg.kl_coef * kl, kl
                (loss * share).backward()
                sums["loss"] += float(loss.detach()) * share
                for k, v in terms.items():
                    sums[k] += float(v.detach()) * share
            norm = float(torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf))
            if math.isfinite(norm) and math.isfinite(sums["loss"]):
                optimizer.step()
            else:
                skipped += 1
            optimizer.zero_grad(set_to_none=True)
            sums["grad_norm"] = norm
        if returns is None:
            sums.pop("value_loss")
        else:
            sums.pop("kl_loss")
        sums["skipped_updates"] = float(skipped)
        return sums  # the last epoch's values


# ---- setup, called by jobs/distill.py ---------------------------------------------------------------

def rl_value_heads(stages: Sequence, hidden_size: int, device: torch.device) -> Dict[str, nn.Module]:  # type: ignore[type-arg]
    """A value head per PPO stage, keyed like the hidden projections so the optimizer and the
    checkpoint's trainer state carry it."""
    return {f"value_s{i}": value_head(hidden_size, device) for i, s in enumerate(stages)
            if s.rl is not None and s.rl.algorithm == "ppo"}


def rl_stages(job: "DistillJob") -> Dict[int, RLStage]:  # noqa: F821 - jobs/distill.py's job, after its setup
    from ..spec import SpecError
    from ..tokenizer import tokenizer_fingerprint
    from ..jobs.common import resolve
    out: Dict[int, RLStage] = {}
    for i, stage in enumerate(job.spec.stages):
        cfg = stage.rl
        if cfg is None:
            continue
        where = f"spec.json: stages.{i}.rl"
        if job.env.active or job.fsdp:
            raise SpecError(f"{where}: RL stages run in one process for now (start the job without torchrun / --fsdp)")
        if cfg.kl_target == "teacher":
            assert job.teacher is not None
            t_dir = resolve(job.spec.teacher.path)
            if tokenizer_fingerprint(t_dir) != tokenizer_fingerprint(job.student_dir):
                raise SpecError(f"{where}.klTarget: the KL to the teacher compares token probabilities, but the teacher's "
                                f"tokenizer ({t_dir}) differs from the student's; use klTarget 'reference'")
        if job.detok is None and cfg.task_weight > 0:
            job.out.log(f"{where}.taskWeight: the student has no tokenizer.json to decode answers, so the task reward is 0", "warn")
        if cfg.kl_target == "reference" and job.resume_dir is not None:
            job.out.log(f"{where}.klTarget: after a resume the frozen reference is the resumed student, not the stage's start", "warn")
        out[i] = RLStage(cfg, job.model, job.student, job.teacher, job.projections[f"value_s{i}"] if cfg.algorithm == "ppo" else None,
                         job.detok, job.eos, job.vocab, job.spec.seed + 7 * i, stage.data.max_seq_len, job.spec.micro_batch,
                         job.device, job.amp)
    return out
