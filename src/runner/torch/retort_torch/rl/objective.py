"""The losses of the RL stage, averaged over the action tokens of a batch (`mask`), like every
other loss in the worker. ρ_t = exp(log π(a_t) − log π_old(a_t)) is the probability ratio against
the policy that sampled the rollouts."""
from __future__ import annotations

from typing import Tuple

import torch

from .advantages import masked_mean


def clipped_policy_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                        clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (Schulman et al. 2017), as a loss to minimise:
        L = mean_t −min(ρ_t·A_t, clip(ρ_t, 1 − ε, 1 + ε)·A_t)
    The min makes the objective pessimistic: past 1 ± ε in the direction A favours, the ratio earns
    nothing more (zero gradient), so one batch cannot push the policy far. Returns (loss, the
    fraction of tokens where the clipped term was the one taken)."""
    ratio = torch.exp(logp - logp_old)
    plain, clipped = ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv
    loss = masked_mean(-torch.min(plain, clipped), mask)
    frac = masked_mean((clipped < plain).to(logp.dtype), mask)  # where min() picked the clipped side
    return loss, frac.detach()


def clipped_value_loss(values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       clip: float) -> torch.Tensor:
    """½ · mean_t max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²): the value head, like the
    policy, may move at most ε from the rollout's estimate per batch (PPO2, TRL)."""
    clipped = values_old + (values - values_old).clamp(-clip, clip)
    return 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped - returns) ** 2), mask)


def kl_k1(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """log π(a) − log π_ref(a): unbiased per-sample estimate of KL(π ‖ π_ref) on tokens sampled from
    π; PPO-RLHF subtracts β times it from each token's reward."""
    return logp - logp_ref


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """exp(d) − d − 1 with d = log π_ref(a) − log π(a): the non-negative, low-variance estimator GRPO
    adds to its loss (Schulman's "Approximating KL divergence", k3)."""
    d = logp_ref - logp
    return torch.exp(d) - d - 1
