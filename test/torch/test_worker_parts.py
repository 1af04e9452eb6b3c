"""The distill job's parts: tokenized rows, packing masks, the batch plan, schedules, student init (QAT: test_qat.py)."""
from __future__ import annotations

import math
import os

import pytest
import torch

from jobkit import distill_spec, make_job, of_type, progression_rows, run_inproc, stage, tiny_pair
from retort_torch.data import BatchPlan, DataError, collate, curriculum_order, parse_row
from retort_torch.make_tiny import make_tiny
from retort_torch.model import load_model
from retort_torch.schedules import lr_at, temperature_at
from retort_torch.spec import LrSchedule, TemperatureSchedule


def test_packed_rows_equal_their_documents_alone(tmp_path):
    make_tiny(str(tmp_path / "m"), "qwen3", seed=3)
    model = load_model(str(tmp_path / "m"))
    docs = [[5, 9, 11, 40, 7], [3, 3, 80], [17, 2, 66, 91]]
    row = parse_row({"ids": sum(docs, []), "labels": [-1] * 12, "doc_starts": [0, 5, 8]}, "f", 1, 128)
    short = parse_row({"ids": docs[1], "labels": [-1] * 3}, "f", 2, 128)
    batch = collate([row, short])  # the second row is right-padded to 12
    assert batch.positions[0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3]
    with torch.no_grad():
        packed = model(batch.ids, attention_mask=batch.attention_mask(), position_ids=batch.positions).logits
        worst = 0.0
        start = 0
        for d in docs:
            alone = model(torch.tensor([d])).logits[0]
            worst = max(worst, (packed[0, start:start + len(d)] - alone).abs().max().item())
            start += len(d)
        worst = max(worst, (packed[1, :3] - model(torch.tensor([docs[1]])).logits[0]).abs().max().item())
    print(f"packed vs alone: worst logit difference {worst:.2e}")
    assert worst < 1e-5
    assert collate([short]).attention_mask() is None  # no padding, no packing: the plain causal path


def test_row_errors_name_file_line_and_field():
    with pytest.raises(DataError, match=r"^f:3: field 'teacher_topk': has 1 entries but the row has 2 trained labels"):
        parse_row({"ids": [1, 2, 3], "labels": [2, 3, -1], "teacher_topk": [{"ids": [2], "logprobs": [-0.1]}]}, "f", 3, 10)
    with pytest.raises(DataError, match=r"^f:4: field 'ids\[1\]': expected an integer in \[0, 10\), got 12"):
        parse_row({"ids": [1, 12], "labels": [12, -1]}, "f", 4, 10)
    with pytest.raises(DataError, match=r"field 'teacher_topk\[0\].logprobs\[0\]': expected a log-probability ≤ 0"):
        parse_row({"ids": [1, 2], "labels": [2, -1], "teacher_topk": [{"ids": [2], "logprobs": [0.5]}]}, "f", 5, 10)
    with pytest.raises(DataError, match="doc_starts"):
        parse_row({"ids": [1, 2], "labels": [2, -1], "doc_starts": [1]}, "f", 6, 10)


def test_batch_plan_covers_each_epoch_shards_and_resumes():
    plan = BatchPlan(10, seed=4)
    first = plan.take(10)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert sorted(plan.take(10)) == list(range(10))  # the next epoch, another order
    a, b = BatchPlan(10, 4), BatchPlan(10, 4)
    single = [a.step_rows(4, 2) for _ in range(3)]
    ranks = [BatchPlan(10, 4) for _ in range(2)]
    for step in range(3):
        shards = [r.step_rows(2, 2, rank, 2) for rank, r in enumerate(ranks)]
        assert sorted(sum(sum(shards, []), [])) == sorted(sum(single[step], []))
    b.step_rows(4, 2)
    state = b.state()
    c = BatchPlan(10, 4)
    c.load_state(state)
    assert c.step_rows(4, 2) == b.step_rows(4, 2)
    rows = [parse_row({"ids": [1] * n, "labels": [-1] * (n - 1) + [-1], "difficulty": d}, "f", i, 5)
            for i, (n, d) in enumerate([(5, 0.9), (2, 0.1), (3, 0.5)])]
    assert curriculum_order(rows, "by-length") == [1, 2, 0] and curriculum_order(rows, "by-difficulty") == [1, 2, 0]
    assert curriculum_order(rows, "none") is None


def test_schedules_match_hand_values():
    """The values src/core/schedules.ts is tested against: warm-up (step+1)/W, the last step on the floor."""
    cos = LrSchedule("cosine", warmup_steps=2, min_lr_ratio=0.1)
    assert [lr_at(1.0, cos, s, 7) for s in (0, 1)] == [0.5, 1.0]
    assert lr_at(1.0, cos, 2, 7) == pytest.approx(1.0) and lr_at(1.0, cos, 6, 7) == pytest.approx(0.1)
    assert lr_at(1.0, cos, 4, 7) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    lin = LrSchedule("linear", 0, 0.0)
    assert [lr_at(2.0, lin, s, 5) for s in range(5)] == pytest.approx([2.0, 1.5, 1.0, 0.5, 0.0])
    assert lr_at(3.0, LrSchedule("constant", 0, 0.1), 9, 10) == 3.0
    t = TemperatureSchedule("cosine", 4.0, 1.0)
    assert [temperature_at(t, s, 3) for s in range(3)] == pytest.approx([4.0, 2.5, 1.0])
    assert temperature_at(TemperatureSchedule("linear", 2.0, 1.0), 0, 1) == 1.0  # one step lands on `to`


def test_student_from_teacher_layers_and_qat_run(tmp_path):
    teacher_dir = str(tmp_path / "teacher")
    make_tiny(teacher_dir, "qwen2", seed=1, layers=3)
    student_dir = str(tmp_path / "student")
    make_tiny(student_dir, "qwen2", seed=2, layers=2)  # same widths, two layers
    spec = distill_spec(teacher_dir, student_dir, [stage("s", 1)], optimizer={"lr": 1e-12, "weightDecay": 0.0})
    spec["student"]["init"] = {"fromTeacherLayers": [2, 0]}
    spec["qat"] = {"bits": 4, "groupSize": 32}
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [progression_rows(4)]))
    assert rc == 0, events[-3:]
    student = load_model(of_type(events, "checkpoint")[-1]["path"])
    teacher = load_model(teacher_dir)
    t = teacher.state_dict()
    worst = 0.0
    for name, p in student.state_dict().items():
        src = name
        if name.startswith("model.layers."):
            i, rest = name[len("model.layers."):].split(".", 1)
            src = f"model.layers.{[2, 0][int(i)]}.{rest}"
        worst = max(worst, (p - t[src]).abs().max().item())
    assert worst < 1e-8  # lr 1e-12: the saved student is the copied teacher layers, in full precision

    spec["student"]["init"] = {"fromTeacherLayers": [7, 0]}
    rc, events = run_inproc(make_job(str(tmp_path / "bad"), spec, [progression_rows(4)]))
    assert rc == 2 and "student.init.fromTeacherLayers.0: teacher layer 7 does not exist" in of_type(events, "error")[0]["message"]
