"""Teacher-forced scores of a model folder on tokenized rows (a job's data/stage-N.jsonl as the runner
writes it): next-token accuracy over the trained (assistant) tokens — the argmax is the label — their
mean cross-entropy, and the share of rows whose every trained token is right. One JSON line on stdout.

  python3 bench/token_accuracy.py MODEL_DIR ROWS.jsonl [--limit N]

Used by bench/qat-vs-ptq.ts: on a one-layer demo student greedy exact match stays near zero for a
long time, while token accuracy already separates a good quantization grid from a bad one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "runner", "torch"))
from retort_torch.data import collate, load_rows  # noqa: E402
from retort_torch.model import load_model  # noqa: E402


@torch.no_grad()
def score(model_dir: str, rows_path: str, limit: int | None, batch: int = 16) -> dict:
    model = load_model(model_dir).eval()
    rows = load_rows(rows_path, model.config.vocab_size)[:limit]
    correct = total = rows_right = 0
    ce = 0.0
    for i in range(0, len(rows), batch):
        b = collate(rows[i:i + batch])
        logits = model(b.ids, attention_mask=b.attention_mask(), position_ids=b.positions).logits  # [B, T, V]
        mask = b.labels >= 0
        hit = (logits.argmax(-1) == b.labels) | ~mask
        correct += int(hit[mask].sum())
        total += int(mask.sum())
        rows_right += int(hit.all(-1).sum())
        ce += float(F.cross_entropy(logits[mask], b.labels[mask], reduction="sum"))
    return {"token_accuracy": correct / total, "cross_entropy": ce / total, "rows_all_right": rows_right / len(rows),
            "tokens": total, "rows": len(rows)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("rows")
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(json.dumps(score(a.model, a.rows, a.limit)))


if __name__ == "__main__":
    main()
