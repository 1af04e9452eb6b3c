"""Advantages for the RL stage. Tensors are [B, T] over the sequence, `mask` 1 on the action
(completion) tokens; a row's actions are contiguous, so "the next action" of t is the next masked
position and the last action's successor is the terminal state (value 0)."""
from __future__ import annotations

from typing import Tuple

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016), backwards over time:
        δ_t = r_t + γ·V(s_{t+1}) − V(s_t),   A_t = δ_t + γλ·A_{t+1},   returns R_t = A_t + V(s_t)
    with V = 0 after the last action. Returns (advantages, returns), 0 off the mask."""
    m = mask.to(values.dtype)
    adv = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])  # [B]
    next_adv = torch.zeros_like(values[:, 0])
    for t in range(values.shape[1] - 1, -1, -1):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        a = delta + gamma * lam * next_adv
        on = m[:, t] > 0
        adv[:, t] = torch.where(on, a, torch.zeros_like(a))
        next_adv = torch.where(on, a, next_adv)  # off-mask positions (prompt, padding) pass the state through
        next_value = torch.where(on, values[:, t], next_value)
    return adv, (adv + values) * m


def group_relative(rewards: torch.Tensor, group: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO (Shao et al. 2024): rewards [N·G] of G samples per prompt, in prompt-major order ->
    (r − mean of its group) / (std of its group + eps), std with Bessel's correction as in the paper's code.
    A group whose samples all score the same gets advantage 0: nothing to prefer."""
    if rewards.numel() % group:
        raise ValueError(f"group_relative: {rewards.numel()} rewards is not a multiple of the group size {group}")
    r = rewards.view(-1, group)
    std = r.std(dim=1, keepdim=True, unbiased=True) if group > 1 else torch.zeros_like(r[:, :1])
    return ((r - r.mean(dim=1, keepdim=True)) / (std + eps)).view(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean) / std over the masked entries (population std), 0 off the mask: PPO's per-batch
    advantage normalisation, which keeps the step size independent of the reward's scale."""
    m = mask.to(x.dtype)
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * m
