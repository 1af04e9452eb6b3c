"""Selective distillation (selective.py): scores and weights against hand-computed values, and a first
step recomputed from the teacher's entropies and the weighted KL·T² + CE definition."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from jobkit import distill_spec, make_job, of_type, progression_rows, run_inproc, stage, tiny_pair
from retort_torch.losses import HeadLogits
from retort_torch.model import load_model
from retort_torch.selective import attention_scores, entropy_scores, token_weights
from retort_torch.spec import Selection


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_pair(str(tmp_path_factory.mktemp("models")))


def test_top_weights_keep_the_highest_scores_with_mean_one():
    scores = torch.tensor([[0.1, 0.5, 0.3, 0.9], [0.0, 0.0, 2.0, 0.0]])
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 0]])
    w = token_weights(Selection("teacher-entropy", "top", 0.5), scores, mask)
    # row 0: n = 3, k = ceil(1.5) = 2 → 0.9 and 0.5 get 3/2; row 1: n = 3, k = 2 → 2.0 and one tie get 3/2
    assert w[0].tolist() == [0.0, 1.5, 0.0, 1.5]
    assert w[1, 2] == 1.5 and float(w[1].sum()) == 3.0 and w[1, 3] == 0


def test_soft_weights_are_proportional_and_all_zero_scores_give_ones():
    w = token_weights(Selection("teacher-entropy", "soft"), torch.tensor([[9.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]]),
                      torch.tensor([[0, 1, 1, 1], [0, 1, 1, 0]]))
    assert w.tolist() == [[0.0, 0.5, 1.0, 1.5], [0.0, 1.0, 1.0, 0.0]]


def test_entropy_scores_uniform_and_peaked():
    hidden = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])  # [B=1, T=2, C=2]
    weight = torch.tensor([[0.0, 0.0], [0.0, 0.0], [50.0, 0.0]])  # V = 3: token 0 uniform, token 1 ≈ one-hot
    h = entropy_scores(HeadLogits(hidden, weight), torch.tensor([[1, 1]]), temperature=1.0, vocab=3)
    print(f"entropy uniform {h[0, 0]:.6f} (log 3 = {math.log(3):.6f}), peaked {h[0, 1]:.2e}")
    assert abs(float(h[0, 0]) - math.log(3)) < 1e-6 and float(h[0, 1]) < 1e-18


def test_attention_scores_mean_attention_received_by_the_predicted_token():
    a = torch.tensor([[[[1.0, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]]]])  # [1, 1, 3, 3], causal
    s = attention_scores(a, torch.tensor([[1, 1, 1]]))
    # key 1: (0.5 + 0.3) / 2 queries = 0.4; key 2: 0.5 / 1; position 2 predicts nothing in the row
    assert torch.allclose(s, torch.tensor([[0.4, 0.5, 0.0]]))


def test_first_selective_step_matches_the_weighted_formula(models, tmp_path):
    teacher_dir, student_dir = models
    rows = progression_rows(3, seed=11)
    alpha, t, frac = 0.6, 2.0, 0.3
    loss = {"alpha": alpha, "temperature": {"kind": "constant", "value": t},
            "selection": {"by": "teacher-entropy", "mode": "top", "topFraction": frac}}
    spec = distill_spec(teacher_dir, student_dir, [stage("sel", 1, **loss)], batch={"microBatch": 3, "gradAccumulation": 1})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows]))
    assert rc == 0, events[-3:]
    got = of_type(events, "step")[0]
    teacher, student = load_model(teacher_dir), load_model(student_dir)
    soft_sum = hard_sum = count = 0.0
    with torch.no_grad():
        for r in rows:
            ids, labels = torch.tensor([r["ids"]]), torch.tensor(r["labels"])
            keep = labels >= 0
            zs, zt = student(ids).logits[0][keep].double(), teacher(ids).logits[0][keep].double()
            lt = F.log_softmax(zt / t, -1)
            entropy = -(lt.exp() * lt).sum(-1)
            n = int(keep.sum())
            k = math.ceil(frac * n)
            w = torch.zeros(n, dtype=torch.float64)
            w[entropy.topk(k).indices] = n / k
            kl = F.kl_div(F.log_softmax(zs / t, -1), lt, log_target=True, reduction="none").sum(-1)
            soft_sum += float((w * t * t * kl).sum())
            hard_sum += float(F.cross_entropy(zs, labels[keep], reduction="sum"))
            count += n
    want = (alpha * soft_sum + (1 - alpha) * hard_sum) / count
    print(f"selective step-0 loss {got['loss']:.7f} vs formula {want:.7f}, diff {abs(got['loss'] - want):.2e}")
    assert abs(got["loss"] - want) < 1e-5 * max(1.0, abs(want))
    assert abs(got["metrics"]["soft"] - soft_sum / count) < 1e-5


def test_selection_by_teacher_attention_runs(models, tmp_path):
    teacher_dir, student_dir = models
    loss = {"alpha": 0.5, "selection": {"by": "teacher-attention", "mode": "soft"}}
    spec = distill_spec(teacher_dir, student_dir, [stage("sel", 2, **loss)])
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [progression_rows(8, seed=1)]))
    assert rc == 0, events[-3:]
    steps = of_type(events, "step")
    assert len(steps) == 2 and all(math.isfinite(e["loss"]) and e["metrics"]["soft"] > 0 for e in steps)


def test_the_weights_behind_the_selection_reach_the_ui_as_a_sample_event(tmp_path):
    from jobkit import bigram_model
    pieces = bigram_model(str(tmp_path / "m"), {"Question:": ["a", "b", "c", "d"]})
    ids = [pieces[p] for p in ("Question:", "a", "b", "c", "d", "<|im_end|>")]
    labels = [ids[t + 1] if t >= 0 and t < len(ids) - 1 else -1 for t in range(len(ids))]
    labels[0] = -1  # "Question:" → "a" is prompt
    loss = {"alpha": 0.5, "selection": {"by": "teacher-entropy", "mode": "top", "topFraction": 0.5}}
    spec = distill_spec(str(tmp_path / "m"), str(tmp_path / "m"), [stage("sel", 1, **loss)], batch={"microBatch": 2, "gradAccumulation": 1})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [[{"ids": ids, "labels": labels}] * 2]))
    assert rc == 0, events[-3:]
    [heat] = [e for e in of_type(events, "sample") if e["source"] == "selection"]
    print(heat)
    assert [w["token"] for w in heat["tokenWeights"]] == ["b", "c", "d", "<|im_end|>"]
    weights = [w["weight"] for w in heat["tokenWeights"]]
    assert sorted(weights) == [0, 0, 2, 2]  # top half of 4 tokens, mean 1
