"""Local batched sampling for teacher-generate and eval: prompts (token ids) x n samples through the
KV-cache generator, left-padded batches, one seeded generator so a run is reproducible."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..generate import generate
from ..model import CausalLM, autocast

DEFAULT_BATCH = int(os.environ.get("RETORT_GEN_BATCH", "8"))  # sequences per generate() call


@dataclass
class Generated:
    prompt: int  # index into the prompts
    sample: int  # 0 .. n-1
    ids: List[int]  # generated tokens, up to and including the first eos
    finish: str  # 'stop' (eos) or 'length'


def sample_local(model: CausalLM, prompts: Sequence[Sequence[int]], n: int, temperature: float, top_p: float, top_k: int,
                 max_new_tokens: int, eos: Sequence[int], seed: int, device: torch.device,
                 amp: Optional[torch.dtype] = None, batch: int = DEFAULT_BATCH,
                 on_batch: Optional[Callable[[List[Generated]], bool]] = None) -> List[Generated]:
    """All samples, in (prompt, sample) order. `on_batch` sees each finished batch; returning True
    stops early (what was generated so far is returned)."""
    jobs = [(p, s) for p in range(len(prompts)) for s in range(n)]
    gen = torch.Generator(device=device).manual_seed(seed)
    pad = 0
    out: List[Generated] = []
    for at in range(0, len(jobs), batch):
        chunk = jobs[at:at + batch]
        width = max(len(prompts[p]) for p, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (p, _) in enumerate(chunk):  # left padding: every row's last prompt token is aligned
            ids[row, width - len(prompts[p]):] = torch.tensor(prompts[p])
            mask[row, width - len(prompts[p]):] = 1
        with autocast(device, amp):
            result = generate(model, ids.to(device), max_new_tokens, attention_mask=mask.to(device), temperature=temperature,
                              top_k=top_k, top_p=top_p, eos_token_ids=eos, pad_token_id=pad, generator=gen)
        done: List[Generated] = []
        for row, (p, s) in enumerate(chunk):
            new = result[row, width:].tolist()
            cut = next((i for i, t in enumerate(new) if t in eos), None)
            done.append(Generated(p, s, new[:cut + 1] if cut is not None else new, "stop" if cut is not None else "length"))
        out.extend(done)
        if on_batch is not None and on_batch(done):
            break
    return out


@torch.no_grad()
def teacher_topk(model: CausalLM, prompt: Sequence[int], completion: Sequence[int], k: int, device: torch.device,
                 vocab: int, extra_end: Optional[int] = None) -> List[dict]:
    """The model's top-k log-probs at T=1 for each completion token (teacher-forced), one entry per
    token in order; with `extra_end` one more entry for an end token the dataset appends."""
    seq = list(prompt) + list(completion) + ([extra_end] if extra_end is not None else [])
    logits = model(torch.tensor([seq], device=device)).logits[0].float()  # [T, V]
    first = len(prompt) - 1  # position predicting the first completion token
    logp = F.log_softmax(logits[first:len(seq) - 1, :vocab], dim=-1)  # [n, V]: padded vocab rows sliced off
    values, ids = logp.topk(min(k, logp.shape[-1]), dim=-1)
    return [{"ids": i.tolist(), "logprobs": v.tolist()} for i, v in zip(ids, values)]
