"""On-policy / sequence-level KD (on_policy.py): batch building by hand, the draw, and a whole first step
recomputed from a greedy loop written here (no KV cache) and the KL·T² + CE definition."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from jobkit import distill_spec, make_job, of_type, progression_rows, run_inproc, stage, tiny_pair
from retort_torch.data import Row
from retort_torch.model import load_model
from retort_torch.on_policy import OnPolicySampler, build_rows, hf_batch
from retort_torch.spec import OnPolicy, SpecError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_pair(str(tmp_path_factory.mktemp("models")))


def test_build_rows_keeps_the_prompt_and_trains_the_continuation_up_to_eos():
    row = Row([7, 8, 9, 10, 11], [-1, 9, 10, 11, -1], [0])  # prompt = 7, 8 (position 1 predicts the first label)
    got = build_rows([row], [[20, 21, 2, 22]], eos=[2])[0]
    assert got.ids == [7, 8, 20, 21, 2]
    assert got.labels == [-1, 20, 21, 2, -1]
    assert build_rows([row], [[30, 31]], eos=[2])[0].labels == [-1, 30, 31, -1]  # no eos: all of it
    ids, labels = hf_batch([got, Row([1, 2, 3], [5, -1, -1], [0])])
    assert ids == [[7, 8, 20, 21, 2], [1, 2, 3, 0, 0]]
    assert labels == [[-100, -100, 20, 21, 2], [-100, 5, -100, -100, -100]]


def test_packed_rows_are_refused_with_the_reason():
    with pytest.raises(SpecError, match="packing false"):
        build_rows([Row([1, 2, 3, 4], [2, -1, 4, -1], [0, 2])], [[5]], eos=[])


@pytest.mark.parametrize("fraction,want", [(0.0, 0), (1.0, 200), (0.25, None)])
def test_the_draw_follows_lambda_and_is_reproducible(fraction, want):
    s = OnPolicySampler(OnPolicy(fraction=fraction), seed=3, eos=[], max_len=64)
    picks = [s.chosen(step, j) for step in range(100) for j in range(2)]
    assert picks == [s.chosen(step, j) for step in range(100) for j in range(2)]
    if want is not None:
        assert sum(picks) == want
    else:
        assert 30 <= sum(picks) <= 70, sum(picks)  # 200 draws at 0.25: 50 ± 3σ


def greedy(model, prompt, n, eos):
    """Plain greedy decoding: full forward each token, no cache, no padding."""
    ids = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(torch.tensor([ids])).logits[0, -1].argmax())
            out.append(nxt)
            ids.append(nxt)
            if nxt in eos:
                break
    return out


def divergence_by_hand(kind: str, zs: torch.Tensor, zt: torch.Tensor, t: float, lam: float = 0.1) -> torch.Tensor:
    """Per-token D(p_t ‖ p_s) at temperature t, written out in float64."""
    ps, pt = F.softmax(zs / t, -1), F.softmax(zt / t, -1)
    kl = lambda a, b: (a * (a.log() - b.log())).sum(-1)  # noqa: E731
    if kind == "forward-kl":
        return kl(pt, ps)
    if kind == "reverse-kl":
        return kl(ps, pt)
    return kl(pt, lam * pt + (1 - lam) * ps)  # skew-kl (DistiLLM)


@pytest.mark.parametrize("divergence", ["forward-kl", "reverse-kl", "skew-kl"])
def test_first_on_policy_step_matches_a_greedy_loop_and_the_loss_formula(models, tmp_path, divergence):
    teacher_dir, student_dir = models
    rows = progression_rows(4, seed=9)
    t, new = 1.5, 6
    # alpha is ignored on the student's own samples: only the divergence trains on them
    loss = {"alpha": 0.8, "temperature": {"kind": "constant", "value": t}, "divergence": divergence, "lambda": 0.1,
            "onPolicy": {"fraction": 1, "temperature": 0, "maxNewTokens": new}}
    spec = distill_spec(teacher_dir, student_dir, [stage("gkd", 1, **loss)], batch={"microBatch": 4, "gradAccumulation": 1})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows]))
    assert rc == 0, events[-3:]
    got = of_type(events, "step")[0]
    assert got["metrics"]["on_policy"] == 1.0

    teacher, student = load_model(teacher_dir), load_model(student_dir)
    soft_sum = count = 0.0
    with torch.no_grad():
        for r in rows:
            n = r["labels"].index(next(l for l in r["labels"] if l >= 0)) + 1
            cont = greedy(student, r["ids"][:n], new, eos=[])
            ids = torch.tensor([r["ids"][:n] + cont])
            keep = torch.arange(ids.shape[1] - 1) >= n - 1
            zs, zt = student(ids).logits[0, :-1][keep].double(), teacher(ids).logits[0, :-1][keep].double()
            soft_sum += float((t * t * divergence_by_hand(divergence, zs, zt, t)).sum())
            count += int(keep.sum())
    want = soft_sum / count
    print(f"on-policy {divergence} step-0 loss {got['loss']:.7f} vs greedy loop + formula {want:.7f}, diff {abs(got['loss'] - want):.2e}")
    assert got["metrics"]["loss_tokens"] == count == 4 * new
    assert abs(got["loss"] - want) < 1e-5 * max(1.0, abs(want))


def test_sequence_level_kd_samples_from_the_teacher_without_a_divergence(models, tmp_path):
    teacher_dir, student_dir = models
    rows = progression_rows(4, seed=4)
    loss = {"teacherTargets": "none", "divergence": "none", "alpha": 0,
            "onPolicy": {"source": "teacher", "fraction": 1, "temperature": 0, "maxNewTokens": 5}}
    spec = distill_spec(teacher_dir, student_dir, [stage("seqkd", 1, **loss)], batch={"microBatch": 4, "gradAccumulation": 1})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows]))
    assert rc == 0, events[-3:]
    got = of_type(events, "step")[0]
    teacher, student = load_model(teacher_dir), load_model(student_dir)
    hard_sum = count = 0.0
    with torch.no_grad():
        for r in rows:
            n = r["labels"].index(next(l for l in r["labels"] if l >= 0)) + 1
            ids = torch.tensor([r["ids"][:n] + greedy(teacher, r["ids"][:n], 5, eos=[])])
            zs = student(ids).logits[0, n - 1:-1].double()
            hard_sum += float(F.cross_entropy(zs, ids[0, n:], reduction="sum"))
            count += zs.shape[0]
    print(f"sequence-level KD step-0 CE {got['loss']:.7f} vs teacher-greedy formula {hard_sum / count:.7f}")
    assert got["metrics"]["soft"] == 0 and abs(got["loss"] - hard_sum / count) < 1e-5
