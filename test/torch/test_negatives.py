"""Negative samples (negatives.py): pairing with the correct row, the unlikelihood term by hand, and a
worker run on the demo models whose first-step unlikelihood is recomputed here from the weights."""
import json
import math
import os
import subprocess

import pytest
import torch

from conftest import ROOT
from jobkit import PYTHON, distill_spec, env, make_job
from test_demo_data import DemoEncoder, chat
from retort_torch import protocol as P
from retort_torch.data import DataError, Row
from retort_torch.model import load_model
from retort_torch.negatives import cycle, split_negatives, unlikelihood
from retort_torch.spec import SpecError, parse_spec

TEACHER = os.path.join(ROOT, "public", "models", "demo-teacher")
STUDENT = os.path.join(ROOT, "public", "models", "demo-student")


def row(prompt, answer, line, negative=False):
    return Row(prompt + answer, [-1] * (len(prompt) - 1) + answer + [-1], [0], line=line, negative=negative)


def test_a_negative_trains_only_the_token_where_it_leaves_its_correct_row():
    good = row([1, 2], [5, 6, 7, 8], 1)
    bad = row([1, 2], [5, 6, 9, 8], 2, negative=True)
    other = row([3, 2], [5, 6], 3)
    positives, negatives = split_negatives([good, bad, other], "data.jsonl")
    assert positives == [good, other]
    (n,) = negatives
    # ids 1 2 5 6 9: position 3 (token 6) predicts the wrong 9; nothing else is trained
    assert n.ids == [1, 2, 5, 6, 9] and n.labels == [-1, -1, -1, 9, -1] and n.line == 2


def test_negatives_without_a_correct_twin_are_refused_with_file_and_line():
    with pytest.raises(DataError, match=r"data\.jsonl:7: field 'negative': no correct row with the same prompt"):
        split_negatives([row([1, 2], [5], 1), row([4, 2], [5], 7, negative=True)], "data.jsonl")
    with pytest.raises(DataError, match=r"data\.jsonl:2: field 'negative': the answer is the correct row's \(line 1\)"):
        split_negatives([row([1, 2], [5, 6], 1), row([1, 2], [5], 2, negative=True)], "data.jsonl")


def test_unlikelihood_by_hand():
    # one counted position, logits (0, ln 3) -> p(token 1) = 3/4, −log(1 − 3/4) = ln 4
    logits = torch.tensor([[[0.0, math.log(3.0)], [5.0, 5.0]]])
    close = abs(unlikelihood(logits, torch.tensor([[1, -1]]), vocab=2).item() - math.log(4.0))
    print(f"|UL − ln 4| = {close:.2e}")
    assert close < 1e-6


def test_cycle_is_a_fixed_order_through_the_negatives():
    rows = list("abcde")
    assert cycle(rows, 0, 2) == ["a", "b"] and cycle(rows, 2, 2) == ["e", "a"] and cycle(rows, 1, 9) == list("eabcd")  # 9 mod 5 = 4: each negative once


def test_spec_refuses_negatives_with_packing():
    stage = {"name": "s", "data": {"path": "x.jsonl", "packing": True, "negatives": {}}, "stop": {"steps": 1}}
    with pytest.raises(SpecError, match=r"stages\.0\.data\.negatives: a negative row is paired .* set packing false"):
        parse_spec(distill_spec("t", "s", [stage]))


def demo_row(enc, question, answer_text, line, difficulty, negative=False):
    prompt = enc.encode(chat([{"role": "user", "content": question}], generation_prompt=True))
    answer = enc.encode(answer_text + "<|im_end|>")
    out = {"ids": prompt + answer, "labels": [-1] * (len(prompt) - 1) + answer + [-1], "line": line, "difficulty": difficulty}
    if negative:
        out["negative"] = True
    return out


def test_worker_adds_the_unlikelihood_of_the_wrong_digit_on_the_demo_models(tmp_path):
    enc = DemoEncoder(TEACHER)
    good = "<think>\n8+0=8\n0+3=3\n=38\n</think>\n\\boxed{38}"
    bad = "<think>\n8+0=9\n0+3=3\n=39\n</think>\n\\boxed{39}"  # the first column off by one
    rows = [demo_row(enc, "What is 8+30?", good, 1, 2), demo_row(enc, "What is 8+30?", bad, 2, 2, negative=True),
            demo_row(enc, "What is 7-2?", "<think>\n7-2=5\n=5\n</think>\n\\boxed{5}", 3, 1),
            demo_row(enc, "What is 41+2?", "<think>\n1+2=3\n4+0=4\n=43\n</think>\n\\boxed{43}", 4, 3)]
    stage = {"name": "neg", "data": {"path": "x.jsonl", "maxSeqLen": 128, "curriculum": "by-difficulty",
                                     "negatives": {"weight": 0.5, "batch": 4}},
             "loss": {"alpha": 0.5}, "stop": {"steps": 2}}
    spec = distill_spec(TEACHER, STUDENT, [stage], batch={"microBatch": 1, "gradAccumulation": 1},
                        checkpoint={"everySteps": 0, "keepLast": 1})
    job = make_job(str(tmp_path / "job"), spec, [rows])
    proc = subprocess.run([PYTHON, "-m", P.WORKER_MODULE, "--job", job], env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [json.loads(l) for l in proc.stdout.splitlines() if '"step"' in l and json.loads(l)["type"] == "step"]
    m0 = steps[0]["metrics"]
    # curriculum by-difficulty: step 0 trains the easiest row alone (7-2, difficulty 1)
    assert m0["loss_tokens"] == sum(1 for l in rows[2]["labels"] if l >= 0)
    # p(wrong "9" | "…<think>\n8+0=") under the untrained student, recomputed here from the full negative row
    neg = rows[1]["ids"]
    t = next(i for i, (a, b) in enumerate(zip(neg, rows[0]["ids"])) if a != b)
    model = load_model(STUDENT, dtype=torch.float32)
    with torch.no_grad():
        p = model(torch.tensor([neg])).logits[0, t - 1].softmax(-1)[neg[t]].item()
    want = -math.log(1 - p)
    print(f"unlikelihood at step 0: worker {m0['unlikelihood']:.6f}, here {want:.6f} (p = {p:.4f})")
    assert abs(m0["unlikelihood"] - want) < 1e-4 * max(1.0, want)
    loss = steps[0]["loss"]  # α·soft + (1 − α)·hard + weight·UL, α = weight = 0.5, T = 1
    assert abs(loss - (0.5 * m0["soft"] + 0.5 * m0["hard"] + 0.5 * want)) < 1e-4 * loss
