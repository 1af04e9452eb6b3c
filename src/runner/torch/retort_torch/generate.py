"""Sampling with the KV cache: greedy (temperature 0) or temperature / top-k / top-p, HF's
repetition penalty, eos stop. Batches are left-padded; positions count real tokens only, as HF's
`generate` does, so a padded row gives the same tokens as the row alone."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from .model import CausalLM, KVCache


def process_logits(logits: torch.Tensor, seen: Optional[torch.Tensor], temperature: float, top_k: int,
                   top_p: float, repetition_penalty: float) -> torch.Tensor:
    """logits [B, V] (fp32) -> the logits sampling draws from, filtered entries at -inf."""
    if repetition_penalty != 1.0 and seen is not None:  # seen [B, S] token ids
        picked = logits.gather(1, seen)
        picked = torch.where(picked > 0, picked / repetition_penalty, picked * repetition_penalty)
        logits = logits.scatter(1, seen, picked)
    if temperature > 0:
        logits = logits / temperature
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # [B, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > top_p  # keep the smallest prefix whose mass reaches top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model: CausalLM,
    input_ids: torch.Tensor,  # [B, T] left-padded
    max_new_tokens: int,
    attention_mask: Optional[torch.Tensor] = None,  # [B, T]
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    eos_token_ids: Sequence[int] = (),
    pad_token_id: int = 0,
    generator: Optional[torch.Generator] = None,
    on_tokens: Optional[Callable[[torch.Tensor], Optional[bool]]] = None,  # new ids [B]; True stops
) -> torch.Tensor:
    """Returns [B, T + n] (finished rows padded with pad_token_id)."""
    b, _ = input_ids.shape
    device = input_ids.device
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(input_ids.dtype)
    eos = torch.tensor(list(eos_token_ids), device=device, dtype=input_ids.dtype)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    cache = KVCache()
    ids, step_ids = input_ids, input_ids
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]
    for _ in range(max_new_tokens):
        out = model(step_ids, attention_mask=mask, position_ids=positions, past_key_values=cache)
        logits = process_logits(out.logits[:, -1].float(), ids, temperature, top_k, top_p, repetition_penalty)
        if temperature > 0:
            nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
        else:
            nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad_token_id), nxt)  # [B]
        ids = torch.cat((ids, nxt[:, None]), dim=1)
        if eos.numel():
            done = done | (nxt[:, None] == eos[None]).any(-1)
        mask = torch.cat((mask, (~done | (nxt != pad_token_id)).to(mask.dtype)[:, None]), dim=1)
        positions = positions[:, -1:] + 1
        step_ids = nxt[:, None]
        if on_tokens is not None and on_tokens(nxt):
            break
        if bool(done.all()):
            break
    return ids
