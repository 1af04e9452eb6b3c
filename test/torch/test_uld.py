"""Cross-tokenizer teachers: logit KD between two vocabularies is refused naming both tokenizers;
ULD (uld.py) against hand-computed values, its gradient against finite differences, and a run."""
from __future__ import annotations

import math

import pytest
import torch

from jobkit import bigram_model, distill_spec, make_job, of_type, run_inproc, stage
from retort_torch.uld import paired_positions, sorted_l1, uld_loss


def test_sorted_l1_by_hand():
    z_s = torch.log(torch.tensor([[0.1, 0.7, 0.2]]))
    z_t = torch.log(torch.tensor([[0.5, 0.5]]))  # another vocabulary size: padded with one zero-mass bin
    got = float(sorted_l1(z_s, z_t)[0])
    # sorted: [0.7, 0.2, 0.1] vs [0.5, 0.5, 0] → 0.2 + 0.3 + 0.1
    print(f"ULD by hand: {got:.7f} vs 0.6")
    assert abs(got - 0.6) < 1e-6


def test_pairs_follow_answer_order_up_to_the_shorter_side():
    s_idx, t_idx = paired_positions(torch.tensor([[0, 1, 1, 1], [1, 1, 0, 0]]), torch.tensor([[0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0]]))
    assert s_idx.tolist() == [1, 2, 3, 4] and t_idx.tolist() == [2, 3, 4, 9]


def test_uld_loss_value_and_gradient():
    torch.manual_seed(0)
    z_s = torch.randn(1, 3, 5, dtype=torch.float64, requires_grad=True)
    z_t = torch.randn(1, 4, 7, dtype=torch.float64)
    s_mask, t_mask = torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 1, 1]])
    got = uld_loss(z_s, s_mask, z_t, t_mask, 5, 7)
    want = 0.0
    for i, j in ((1, 1), (2, 2)):  # the student's two answer tokens pair with the teacher's first two
        a = torch.softmax(z_s[0, i], -1).sort(descending=True).values.tolist() + [0.0, 0.0]
        b = torch.softmax(z_t[0, j], -1).sort(descending=True).values.tolist()
        want += sum(abs(x - y) for x, y in zip(a, b))
    want /= 2
    print(f"uld_loss {float(got):.9f} vs by hand {want:.9f}")
    assert abs(float(got) - want) < 1e-12
    assert torch.autograd.gradcheck(lambda z: uld_loss(z, s_mask, z_t, t_mask, 5, 7), (z_s,), eps=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory):
    root = tmp_path_factory.mktemp("xtok")
    student_ids = bigram_model(str(root / "student"), {"a": ["b", "c"], "d": ["e"]})
    teacher_ids = bigram_model(str(root / "teacher"), {"x": ["y", "z"], "a": ["b", "c"], "d": ["e"]})
    return str(root / "teacher"), str(root / "student"), teacher_ids, student_ids


def row(ids_of, pieces, prompt=1):
    ids = [ids_of[p] for p in pieces]
    return ids, [ids[t + 1] if prompt - 1 <= t < len(ids) - 1 else -1 for t in range(len(ids))]


def test_logit_kd_between_two_tokenizers_is_refused_naming_both(mismatched, tmp_path):
    teacher, student, _, s_ids = mismatched
    ids, labels = row(s_ids, ["a", "b", "c", "<|im_end|>"])
    spec = distill_spec(teacher, student, [stage("kd", 1, alpha=0.5)])
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [[{"ids": ids, "labels": labels}]]))
    error = of_type(events, "error")[0]["message"]
    print(error)
    assert rc != 0
    assert f"{teacher}/tokenizer.json" in error and f"{student}/tokenizer.json" in error
    assert "ULD" in error and "sequence-level KD" in error


def test_uld_trains_across_tokenizers_with_the_teacher_rows(mismatched, tmp_path):
    teacher, student, t_ids, s_ids = mismatched
    ids, labels = row(s_ids, ["a", "b", "c", "<|im_end|>"])
    t_row, t_labels = row(t_ids, ["a", "b", "c", "<|im_end|>"])
    assert t_row != ids  # the same text has other ids in the teacher's vocabulary
    data = [{"ids": ids, "labels": labels, "teacher_ids": t_row, "teacher_labels": t_labels}] * 4
    spec = distill_spec(teacher, student, [stage("uld", 2, divergence="none", uld={"weight": 0.5})])
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [data]))
    assert rc == 0, events[-3:]
    steps = of_type(events, "step")
    for e in steps:
        assert math.isclose(e["loss"], e["metrics"]["hard"] + 0.5 * e["metrics"]["uld"], rel_tol=1e-5)
    # Both are bigram models that continue a → b → c → eos with the same margins: equal sorted shapes.
    print(f"ULD between two bigram models with the same chain: {steps[0]['metrics']['uld']:.3e}")
    assert steps[0]["metrics"]["uld"] < 1e-4

    spec_missing = distill_spec(teacher, student, [stage("uld", 1, divergence="none", uld={"weight": 0.5})])
    rc, events = run_inproc(make_job(str(tmp_path / "job2"), spec_missing, [[{"ids": ids, "labels": labels}]]))
    error = of_type(events, "error")[0]["message"]
    assert rc != 0 and "'teacher_ids', 'teacher_labels'" in error and ":1:" in error, error
