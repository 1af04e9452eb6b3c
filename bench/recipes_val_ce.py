"""Teacher-forced scores of distilled students on tokenized rows (the runner's TokenRow JSONL), more
sensitive than greedy exact match when budgets are small: mean cross-entropy and next-token accuracy
over the trained (assistant) tokens.

    PYTHONPATH=src/runner/torch python3 bench/recipes_val_ce.py ROWS.jsonl CHECKPOINT...
prints one JSON line per checkpoint: {"model", "ce", "token_acc", "tokens"}.
"""
from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F

from retort_torch.data import collate, load_rows
from retort_torch.model import load_model


@torch.no_grad()
def score(model_dir: str, rows_path: str) -> dict:
    model = load_model(model_dir)
    model.eval()
    rows = load_rows(rows_path, model.config.vocab_size)
    ce = correct = n = 0.0
    for i in range(0, len(rows), 32):
        b = collate(rows[i:i + 32])
        logits = model(b.ids, attention_mask=b.attention_mask(), position_ids=b.positions).logits.float()
        keep = b.labels >= 0
        z, y = logits[keep], b.labels[keep]
        ce += float(F.cross_entropy(z, y, reduction="sum"))
        correct += float((z.argmax(-1) == y).sum())
        n += int(keep.sum())
    return {"model": model_dir, "ce": ce / n, "token_acc": correct / n, "tokens": int(n)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    for path in sys.argv[2:]:
        print(json.dumps(score(path, sys.argv[1])), flush=True)
