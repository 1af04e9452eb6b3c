"""The serve worker as the runner drives it: a real process, request lines in, response lines out."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch
import torch.nn.functional as F

from jobkit import PYTHON, bigram_model, env
from retort_torch.make_tiny import make_tiny
from retort_torch.model import load_model

CHAINS = {"A:": [" 3+4</think>", " \\boxed{7}"], "E:": [" long", " longer", " longest", " still", " more", " end"]}


class Serve:
    def __init__(self) -> None:
        self.p = subprocess.Popen([PYTHON, "-m", "retort_torch.serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env())
        self.lines = []

    def send(self, raw) -> None:
        self.p.stdin.write((raw if isinstance(raw, str) else json.dumps(raw)) + "\n")
        self.p.stdin.flush()

    def until(self, want, timeout=60.0):
        """Read responses until `want(response)`; returns it (all lines are kept in self.lines)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError(f"serve worker exited: {self.p.stderr.read()[-2000:]}")
            msg = json.loads(line)  # stdout carries responses only
            self.lines.append(msg)
            if want(msg):
                return msg
        raise AssertionError("timed out")

    def call(self, req):
        self.send(req)
        return self.until(lambda m: m["id"] == req["id"] and ("ok" in m or m.get("done")))

    def stream(self, rid):
        return [m for m in self.lines if m["id"] == rid and "done" in m]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    ids = bigram_model(str(root / "bigram"), CHAINS)
    make_tiny(str(root / "tiny"), "qwen2", seed=4)
    s = Serve()
    yield s, ids, str(root / "bigram"), str(root / "tiny")
    s.p.stdin.close()
    s.p.wait(timeout=30)
    assert s.p.returncode == 0  # EOF on stdin ends the worker cleanly


def test_load_info_and_errors(served):
    s, ids, bigram, tiny = served
    r = s.call({"id": 1, "op": "load", "name": "teacher", "path": bigram})
    assert r["ok"] and r["model"]["architecture"] == "Qwen2ForCausalLM" and r["model"]["role"] == "teacher"
    assert (r["model"]["vocab"], r["model"]["configVocab"], r["model"]["layers"], r["model"]["dtype"]) == (128, 128, 1, "f32")
    assert s.call({"id": 2, "op": "load", "name": "student", "path": tiny})["ok"]
    info = s.call({"id": 3, "op": "info"})
    assert sorted(m["role"] for m in info["models"]) == ["student", "teacher"]
    s.send("not json at all")  # ignored (logged to stderr), the worker keeps serving
    bad = s.call({"id": 4, "op": "generate", "model": "nobody", "ids": [1], "sampling": {}})
    assert bad == {"id": 4, "ok": False, "error": "generate: model: no model named 'nobody' is loaded (loaded: teacher, student)"}
    bad = s.call({"id": 5, "op": "generate", "model": "teacher", "ids": [1, 500], "sampling": {}})
    assert not bad["ok"] and "token id 500 is outside the vocabulary [0, 128)" in bad["error"]
    assert "not one of" in s.call({"id": 6, "op": "dance"})["error"]
    missing = s.call({"id": 7, "op": "load", "name": "x", "path": "/no/such/model"})
    assert not missing["ok"] and "/no/such/model" in missing["error"]


def test_generate_streams_tokens_with_eos_stop_and_logprobs(served):
    s, ids, bigram, _ = served
    s.call({"id": 10, "op": "load", "name": "teacher", "path": bigram})
    prompt = [ids["Question:"], ids["A:"]]
    done = s.call({"id": 11, "op": "generate", "model": "teacher", "ids": prompt, "logprobs": 2,
                   "sampling": {"temperature": 0, "topP": 1, "topK": 0, "repetitionPenalty": 1, "maxNewTokens": 20}})
    tokens = [m["token"] for m in s.stream(11) if not m["done"]]
    want = [ids[" 3+4</think>"], ids[" \\boxed{7}"], ids["<|im_end|>"]]
    assert [t["id"] for t in tokens] == want and done["ids"] == want
    assert done["finish"] == "eos" and done["text"] == " 3+4</think> \\boxed{7}"
    assert "".join(t["text"] for t in tokens) == done["text"]
    assert all(t["top"][0]["id"] == t["id"] and t["logprob"] > -1e-6 and len(t["top"]) == 2 for t in tokens)
    assert done["stats"]["promptTokens"] == 2 and done["stats"]["newTokens"] == 3

    done = s.call({"id": 12, "op": "generate", "model": "teacher", "ids": prompt,
                   "sampling": {"temperature": 0.6, "topP": 0.95, "topK": 0, "repetitionPenalty": 1, "maxNewTokens": 20,
                                "seed": 1, "stop": ["</think>"]}})
    streamed = "".join(m["token"]["text"] for m in s.stream(12) if not m["done"])
    assert done["finish"] == "stop" and done["text"] == streamed == " 3+4"
    done = s.call({"id": 13, "op": "generate", "model": "teacher", "ids": prompt,
                   "sampling": {"temperature": 0, "topP": 1, "topK": 0, "repetitionPenalty": 1, "maxNewTokens": 1}})
    assert done["finish"] == "length" and done["text"] == " 3+4</think>"


def test_requests_interleave_with_a_stream_and_cancel_ends_it(served):
    s, ids, bigram, tiny = served
    s.call({"id": 20, "op": "load", "name": "teacher", "path": bigram})
    s.call({"id": 21, "op": "load", "name": "student", "path": tiny})
    greedy = {"temperature": 0, "topP": 1, "topK": 0, "repetitionPenalty": 1}
    s.send({"id": 22, "op": "generate", "model": "teacher", "ids": [ids["Question:"], ids["E:"]], "sampling": {**greedy, "maxNewTokens": 20}})
    s.send({"id": 23, "op": "info"})
    s.until(lambda m: m["id"] == 22 and m.get("done") is True)
    order = [m["id"] for m in s.lines]
    assert order.index(23) < len(order) - 1 - order[::-1].index(22)  # info answered before the stream ended

    s.send({"id": 24, "op": "generate", "model": "student", "ids": [5, 6, 7], "sampling": {**greedy, "maxNewTokens": 100000}})
    s.until(lambda m: m["id"] == 24 and m.get("done") is False)
    assert s.call({"id": 25, "op": "cancel", "target": 24}) == {"id": 25, "ok": True}
    done = s.until(lambda m: m["id"] == 24 and m.get("done") is True)
    assert done["finish"] == "cancelled" and 1 <= len(done["ids"]) < 100000


def test_probe_matches_an_independent_computation(served):
    s, ids, bigram, tiny = served
    s.call({"id": 30, "op": "load", "name": "teacher", "path": tiny})
    make_student = tiny.replace("tiny", "tiny-student")
    make_tiny(make_student, "qwen2", seed=9)
    s.call({"id": 31, "op": "load", "name": "student", "path": make_student})
    seq = [3, 17, 42, 99, 5, 64]
    r = s.call({"id": 32, "op": "probe", "teacher": "teacher", "student": "student", "ids": seq, "positions": [1, -1],
                "temperatures": [1, 2.5], "topK": 4})
    res = r["result"]
    t, st = load_model(tiny), load_model(make_student)
    with torch.no_grad():
        zt, zs = t(torch.tensor([seq])).logits[0].double(), st(torch.tensor([seq])).logits[0].double()
    worst = 0.0
    assert [p["position"] for p in res["positions"]] == [1, 5] and res["positions"][0]["next"]["id"] == 42
    for p in res["positions"]:
        for j, temp in enumerate([1, 2.5]):
            lt, ls = F.log_softmax(zt[p["position"]] / temp, -1), F.log_softmax(zs[p["position"]] / temp, -1)
            kl = float(F.kl_div(ls, lt, log_target=True, reduction="sum"))
            worst = max(worst, abs(p["kl"][j] - kl))
            top = lt.topk(4)
            assert [e["id"] for e in p["teacher"][j]["top"]] == top.indices.tolist()
            worst = max(worst, max(abs(e["logprob"] - float(v)) for e, v in zip(p["teacher"][j]["top"], top.values)))
            worst = max(worst, abs(p["teacher"][j]["tailMass"] - (1 - float(top.values.exp().sum()))))
            worst = max(worst, abs(p["student"][j]["entropy"] - float(-(ls.exp() * ls).sum())))
    lt, ls = F.log_softmax(zt[:-1], -1), F.log_softmax(zs[:-1], -1)
    kl = (lt.exp() * (lt - ls)).sum(-1)
    ce = -ls.gather(1, torch.tensor(seq[1:])[:, None])[:, 0]
    worst = max(worst, max(abs(a - float(b)) for a, b in zip(res["perToken"]["kl"], kl)))
    worst = max(worst, max(abs(a - float(b)) for a, b in zip(res["perToken"]["ce"], ce)))
    print(f"probe worst difference vs float64 reference {worst:.2e}")
    assert worst < 1e-5
