"""The RL stage's pieces against values worked out by hand (in the comments), then a short PPO and
GRPO run of the real worker on the demo teacher and student."""
import json
import math
import os
import subprocess

import pytest
import torch

from conftest import ROOT
from jobkit import PYTHON, distill_spec, env, make_job
from test_demo_data import DemoEncoder, chat, records
from retort_torch import protocol as P
from retort_torch.rl.advantages import gae, group_relative, masked_whiten
from retort_torch.rl.objective import clipped_policy_loss, clipped_value_loss, kl_k1, kl_k3
from retort_torch.rl.rewards import bleu, task_reward, token_f1
from retort_torch.spec import SpecError, parse_spec

TEACHER = os.path.join(ROOT, "public", "models", "demo-teacher")
STUDENT = os.path.join(ROOT, "public", "models", "demo-student")


def close(got, want, tol=1e-6):
    worst = (torch.as_tensor(got, dtype=torch.float64) - torch.as_tensor(want, dtype=torch.float64)).abs().max().item()
    print(f"worst |got − want| = {worst:.2e}")
    assert worst <= tol, f"{got} != {want}"


def test_gae_matches_the_recursion_worked_by_hand():
    # Row 0: a prompt token, three actions, padding; γ = 0.9, λ = 0.8 (γλ = 0.72), values off the mask are junk.
    #   t=3: δ = 1 + 0.9·0 − 0.4 = 0.6                        A = 0.6
    #   t=2: δ = 0 + 0.9·0.4 − 0.2 = 0.16                     A = 0.16 + 0.72·0.6 = 0.592
    #   t=1: δ = 0 + 0.9·0.2 − 0.5 = −0.32                    A = −0.32 + 0.72·0.592 = 0.10624
    #   returns = A + V = 0.10624 + 0.5 = 0.60624, 0.792, 1.0
    # Row 1: two actions at t=0,1 (a shorter answer), r = (−0.1, 0.5), V = (0.3, 0.6):
    #   t=1: δ = 0.5 − 0.6 = −0.1                             A = −0.1
    #   t=0: δ = −0.1 + 0.9·0.6 − 0.3 = 0.14                  A = 0.14 + 0.72·(−0.1) = 0.068
    rewards = torch.tensor([[5.0, 0.0, 0.0, 1.0, 7.0], [-0.1, 0.5, 3.0, 3.0, 3.0]])
    values = torch.tensor([[9.0, 0.5, 0.2, 0.4, 9.0], [0.3, 0.6, 9.0, 9.0, 9.0]])
    mask = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    close(adv, [[0, 0.10624, 0.592, 0.6, 0], [0.068, -0.1, 0, 0, 0]])
    close(ret, [[0, 0.60624, 0.792, 1.0, 0], [0.368, 0.5, 0, 0, 0]])


def test_gae_with_unit_gamma_and_lambda_is_the_monte_carlo_return_minus_the_value():
    # r = (0.5, 0, 2), V = 1 everywhere: returns-to-go 2.5, 2, 2 -> A = 1.5, 1, 1
    adv, ret = gae(torch.tensor([[0.5, 0.0, 2.0]]), torch.ones(1, 3), torch.ones(1, 3), 1.0, 1.0)
    close(adv, [[1.5, 1.0, 1.0]])
    close(ret, [[2.5, 2.0, 2.0]])


def test_clipped_objective_and_its_gradient_by_hand():
    # ε = 0.2, ratios ρ = 1.5, 0.5, 1.1, 0.7 with advantages A = 2, 1, −1, −3:
    #   ρA = 3, 0.5, −1.1, −2.1   clip(ρ)A = 2.4, 0.8, −1.1, −2.4   min = 2.4, 0.5, −1.1, −2.4
    #   loss = −mean(min) = −(2.4 + 0.5 − 1.1 − 2.4)/4 = 0.15; the clipped side is taken on tokens 1 and 4
    #   ∂loss/∂logp = −A·ρ/4 where unclipped: 0, −0.125, 0.275, 0
    logp_old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.7]])).requires_grad_(True)
    loss, frac = clipped_policy_loss(logp, logp_old, torch.tensor([[2.0, 1.0, -1.0, -3.0]]), torch.ones(1, 4), 0.2)
    loss.backward()
    close(loss.item(), 0.15)
    close(frac.item(), 0.5)
    close(logp.grad, [[0.0, -0.125, 0.275, 0.0]])


def test_clipped_objective_ignores_tokens_off_the_mask():
    logp = torch.tensor([[math.log(1.5), 123.0]])
    loss, frac = clipped_policy_loss(logp, torch.zeros(1, 2), torch.tensor([[2.0, 5.0]]), torch.tensor([[1, 0]]), 0.2)
    close(loss.item(), -2.4)
    close(frac.item(), 1.0)


def test_clipped_value_loss_by_hand():
    # V = (1, 0), V_old = (0.5, 0.5), R = (2, 0.6), ε = 0.2
    #   token 1: (1 − 2)² = 1, clipped V = 0.7: (0.7 − 2)² = 1.69 -> 1.69
    #   token 2: (0 − 0.6)² = 0.36, clipped V = 0.3: 0.09 -> 0.36;  ½·mean = ½·(1.69 + 0.36)/2 = 0.5125
    vf = clipped_value_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]), torch.tensor([[2.0, 0.6]]),
                            torch.ones(1, 2), 0.2)
    close(vf.item(), 0.5125)


def test_group_relative_advantages_by_hand():
    # G = 2: (1, 0): mean 0.5, sample std √0.5 -> ±0.70711; (0.5, 0.5): no preference -> 0, 0;
    # (3, 1): mean 2, std √2 -> ±0.70711
    adv = group_relative(torch.tensor([1.0, 0.0, 0.5, 0.5, 3.0, 1.0]), 2)
    close(adv, [0.70711, -0.70711, 0, 0, 0.70711, -0.70711], 1e-5)
    with pytest.raises(ValueError, match="multiple of the group size"):
        group_relative(torch.ones(5), 2)


def test_whitening_and_kl_estimators_by_hand():
    # masked (1, 3): mean 2, population std 1 -> (−1, 1); the masked-out 100 stays 0
    close(masked_whiten(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1, 1, 0]])), [[-1, 1, 0]], 1e-6)
    # π(a) = 0.5, π_ref(a) = 0.25: k1 = ln 2 = 0.693147; k3 = e^{−ln 2} + ln 2 − 1 = 0.193147
    lp, lr = torch.tensor(math.log(0.5)), torch.tensor(math.log(0.25))
    close(kl_k1(lp, lr).item(), 0.693147)
    close(kl_k3(lp, lr).item(), 0.193147)


def test_similarities_by_hand():
    # bags {1, 2, 3, 3} and {3, 3, 4}: overlap 2, P = 2/4, R = 2/3, F1 = 4/7
    close(token_f1([1, 2, 3, 3], [3, 3, 4]), 4 / 7)
    assert token_f1([], []) == 1.0 and token_f1([1], []) == 0.0
    # 1..4 vs 1,2,3,5: p1 = 3/4, p2 = (2+1)/(3+1), p3 = (1+1)/(2+1), p4 = (0+1)/(1+1), BP = 1
    close(bleu([1, 2, 3, 4], [1, 2, 3, 5]), (0.75 * 0.75 * (2 / 3) * 0.5) ** 0.25)
    close(bleu([7, 8, 9], [7, 8, 9]), 1.0)
    # a correct but short answer pays the brevity penalty exp(1 − 4/2)
    close(bleu([1, 2], [1, 2, 3, 4]), math.exp(-1))
    assert bleu([5, 6], [1, 2]) == 0.0


def test_task_reward_uses_the_answer_checker():
    ref = "<think>\n7+5=12\n=12\n</think>\n\\boxed{12}"
    assert task_reward("<think>\n=12\n</think>\n\\boxed{12}", ref) == 1.0
    assert task_reward("<think>\n=13\n</think>\n\\boxed{13}", ref) == 0.0
    assert task_reward("\\boxed{12}", "no answer here") is None


def test_spec_errors_name_the_field():
    stage = {"name": "rl", "data": {"path": "x.jsonl"}, "stop": {"steps": 1}, "rl": {"algorithm": "grpo", "groupSize": 1}}
    with pytest.raises(SpecError, match=r"stages\.0\.rl\.groupSize: GRPO compares samples"):
        parse_spec(distill_spec("t", "s", [stage]))
    stage["rl"] = {"clip": 0}
    with pytest.raises(SpecError, match=r"stages\.0\.rl\.clip: must be > 0"):
        parse_spec(distill_spec("t", "s", [stage]))


def arith_rows(n):
    """Demo training records as tokenized rows: the chat prompt, then the trained assistant turn."""
    enc = DemoEncoder(TEACHER)
    rows = []
    for i, r in enumerate(records("train")[:n]):
        prompt = enc.encode(chat(r["messages"][:1], generation_prompt=True))
        answer = enc.encode(r["messages"][1]["content"] + "<|im_end|>")
        ids = prompt + answer
        rows.append({"ids": ids, "labels": [-1] * (len(prompt) - 1) + answer + [-1], "line": i + 1})
    return rows


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_worker_runs_an_rl_stage_on_the_demo_models(tmp_path, algorithm):
    # PPO with the KL to the frozen student (which reports the KL to the teacher beside it), GRPO to the teacher
    rl = {"algorithm": algorithm, "groupSize": 2, "epochs": 2, "maxNewTokens": 16, "similarity": "bleu",
          "klTarget": "reference" if algorithm == "ppo" else "teacher"}
    stage = {"name": "rl", "data": {"path": "arith.jsonl", "maxSeqLen": 128}, "stop": {"steps": 2}, "rl": rl}
    spec = distill_spec(TEACHER, STUDENT, [stage], batch={"microBatch": 2, "gradAccumulation": 1},
                        checkpoint={"everySteps": 0, "keepLast": 1})
    job = make_job(str(tmp_path / "job"), spec, [arith_rows(8)])
    proc = subprocess.run([PYTHON, "-m", P.WORKER_MODULE, "--job", job], env=env(), capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [0, 1]
    for e in steps:
        m = e["metrics"]
        print(algorithm, e["step"], {k: round(v, 4) for k, v in m.items()})
        assert 0 <= m["reward"] <= 1 and 0 <= m["reward_sim"] <= 1 and 0 <= m["clip_frac"] <= 1
        assert m["kl"] == m["kl"] and m["response_len"] > 0 and m["loss_tokens"] > 0
        assert ("value_loss" in m) == (algorithm == "ppo") and ("kl_loss" in m) == (algorithm == "grpo")
    if algorithm == "ppo":  # the frozen copy is the student itself until the first update
        assert abs(steps[0]["metrics"]["kl"]) < 1e-6 and steps[0]["metrics"]["kl_teacher"] > 0.1
    else:
        assert "kl_teacher" not in steps[0]["metrics"]
    state = torch.load(os.path.join(job, "checkpoints", "step-2", P.TRAINER_STATE), weights_only=False)
    assert ("value_s0.weight" in state["projections"]) == (algorithm == "ppo")


@pytest.mark.parametrize("name", ["demo-rl-grpo.json", "demo-rl-ppo.json", "demo-data-recipes.json"])
def test_recipe_examples_parse_without_warnings(name):
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as f:
        spec, warnings = parse_spec(json.load(f))
    assert warnings == []
    assert any(s.rl is not None or s.data.negatives is not None for s in spec.stages)
