"""The distill job end to end, through the real worker process and its JSON-lines protocol."""
from __future__ import annotations

import math
import os
import signal
import time

import pytest
import torch
import torch.nn.functional as F

from jobkit import (distill_spec, losses, make_job, of_type, parse_events, progression_rows, run_inproc, run_worker,
                    stage, start_worker, tiny_pair)
from retort_torch import protocol as P
from retort_torch import run_manifest
from retort_torch.model import load_model
from retort_torch.safetensors_io import load_file, save_file


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_pair(str(tmp_path_factory.mktemp("models")))


def test_distill_end_to_end_loss_falls_and_checkpoints_load(models, tmp_path):
    teacher, student = models
    spec = distill_spec(teacher, student, [stage("main", 30, alpha=0.5, temperature={"kind": "constant", "value": 2})],
                        checkpoint={"everySteps": 10, "keepLast": 2})
    job = make_job(str(tmp_path / "job"), spec, [progression_rows(24)])
    rc, events, err = run_worker(job)
    assert rc == 0, err
    assert events[0] == {"type": "state", "state": "running"} and events[-1] == {"type": "state", "state": "finished"}
    steps = of_type(events, "step")
    assert [e["step"] for e in steps] == list(range(30))
    for e in steps:
        assert e["stage"] == 0 and set(e["metrics"]) >= {"soft", "hard", "temperature", "lr", "grad_norm", "tokens_per_s"}
        assert e["metrics"]["temperature"] == 2.0
        assert abs(e["loss"] - (0.5 * e["metrics"]["soft"] + 0.5 * e["metrics"]["hard"])) < 1e-5
    first = sum(e["loss"] for e in steps[:5]) / 5
    last = sum(e["loss"] for e in steps[-5:]) / 5
    print(f"loss first5 {first:.4f} last5 {last:.4f}")
    assert last < first - 0.3

    cps = of_type(events, "checkpoint")
    assert [c["step"] for c in cps] == [10, 20, 30]
    root = os.path.join(job, P.CHECKPOINTS_DIR)
    assert sorted(os.listdir(root)) == ["step-20", "step-30"]  # keepLast 2, no temporary folder left
    final = cps[-1]["path"]
    assert os.path.isabs(final) and cps[-1]["bytes"] > 0
    assert {"config.json", "model.safetensors", "generation_config.json", run_manifest.FILE, P.TRAINER_STATE} <= set(os.listdir(final))
    manifest = run_manifest.read(final)  # validates every field
    assert manifest["spec"] == spec and manifest["seed"] == 3 and manifest["step"] == 30
    assert manifest["data"]["stage-0"].startswith("sha256:") and manifest["code_version"]
    assert manifest["trainer"] == {"engine": "torch", "runtime": f"torch {torch.__version__}", "world_size": 1}
    trained, initial = load_model(final), load_model(student)
    moved = max((a - b).abs().max().item() for a, b in zip(trained.parameters(), initial.parameters()))
    assert moved > 1e-3 and all(torch.isfinite(p).all() for p in trained.parameters())


def test_first_step_loss_matches_a_direct_formula(models, tmp_path):
    """Step 1 is reported before the update: recompute it from the two models and the KL·T² + CE definition."""
    teacher_dir, student_dir = models
    rows = progression_rows(6, seed=5)
    alpha, t = 0.3, 1.7
    spec = distill_spec(teacher_dir, student_dir, [stage("s", 1, alpha=alpha, temperature={"kind": "constant", "value": t})],
                        batch={"microBatch": 3, "gradAccumulation": 2})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows]))
    assert rc == 0, events[-3:]
    got = of_type(events, "step")[0]

    teacher, student = load_model(teacher_dir), load_model(student_dir)
    soft_sum = hard_sum = count = 0.0
    with torch.no_grad():
        for r in rows:
            ids = torch.tensor([r["ids"]])
            labels = torch.tensor(r["labels"])
            keep = labels >= 0
            zs, zt = student(ids).logits[0][keep].double(), teacher(ids).logits[0][keep].double()
            kl = F.kl_div(F.log_softmax(zs / t, -1), F.log_softmax(zt / t, -1), log_target=True, reduction="none").sum(-1)
            soft_sum += float((t * t * kl).sum())
            hard_sum += float(F.cross_entropy(zs, labels[keep], reduction="sum"))
            count += int(keep.sum())
    want = (alpha * soft_sum + (1 - alpha) * hard_sum) / count
    print(f"step-1 loss {got['loss']:.7f} vs formula {want:.7f}, diff {abs(got['loss'] - want):.2e}")
    assert abs(got["loss"] - want) < 1e-5 * max(1.0, abs(want))
    assert abs(got["metrics"]["soft"] - soft_sum / count) < 1e-5
    assert abs(got["metrics"]["hard"] - hard_sum / count) < 1e-5
    assert got["metrics"]["loss_tokens"] == count and got["metrics"]["tokens"] == sum(len(r["ids"]) for r in rows)


@pytest.mark.parametrize("lora", [False, True])
def test_resume_continues_with_identical_losses(models, tmp_path, lora):
    teacher, student = models
    over = {"checkpoint": {"everySteps": 6, "keepLast": 5}, "batch": {"microBatch": 2, "gradAccumulation": 2}}
    if lora:  # dropout > 0: the RNG state must come back too
        over["lora"] = {"rank": 4, "alpha": 8, "dropout": 0.2, "targetModules": ["q_proj", "v_proj", "gate_proj"]}
        over["optimizer"] = {"lr": 1e-2, "weightDecay": 0.01}
    spec = distill_spec(teacher, student, [stage("a", 8, divergence="gjsd", beta=0.3),
                                           stage("b", 6, teacherTargets="none", divergence="none")], **over)
    rows = progression_rows(10)
    full = make_job(str(tmp_path / "full"), spec, [rows, rows[::-1]])
    rc, events = run_inproc(full)
    assert rc == 0, events[-3:]
    base = losses(events)
    assert sorted(base) == list(range(14))
    if lora:
        cp = os.path.join(full, "checkpoints", "step-6")
        assert {"adapter_config.json", "adapter_model.safetensors"} <= set(os.listdir(cp))
        assert "model.safetensors" not in os.listdir(cp)

    for at in (6, 12):  # inside stage a, and inside stage b
        job = make_job(str(tmp_path / f"resumed-{at}"), spec, [rows, rows[::-1]])
        rc, ev = run_inproc(job, "--resume", os.path.join(full, "checkpoints", f"step-{at}"))
        assert rc == 0, ev[-3:]
        again = losses(ev)
        assert sorted(again) == list(range(at, 14))
        worst = max(abs(again[s] - base[s]) for s in again)
        print(f"lora={lora} resume at {at}: worst loss difference {worst:.3e}")
        assert worst == 0.0
        assert [e["stage"] for e in of_type(ev, "step")][-1] == 1


def test_resume_refuses_a_checkpoint_whose_manifest_is_another_runs(models, tmp_path):
    teacher, student = models
    spec = distill_spec(teacher, student, [stage("a", 2)], checkpoint={"everySteps": 2, "keepLast": 1})
    rows = progression_rows(6)
    rc, _ = run_inproc(make_job(str(tmp_path / "first"), spec, [rows]))
    assert rc == 0
    cp = os.path.join(str(tmp_path / "first"), P.CHECKPOINTS_DIR, "step-2")
    m = run_manifest.read(cp)
    run_manifest.write(cp, {**m, "seed": m["seed"] + 1})
    rc, ev = run_inproc(make_job(str(tmp_path / "again"), spec, [rows]), "--resume", cp)
    assert rc == P.EXIT_BAD_INPUT
    message = of_type(ev, "error")[-1]["message"]
    assert f"run_manifest.json says step 2, seed {m['seed'] + 1}" in message and f"seed {m['seed']}" in message, message


def test_multi_stage_marks_stages_and_schedules(models, tmp_path):
    teacher_dir, student_dir = models
    teacher = load_model(teacher_dir)
    rows = progression_rows(8, seed=2)
    topk_rows = []
    with torch.no_grad():  # offline targets: the teacher's top-5 at T=1, one entry per trained label
        for r in rows:
            logp = F.log_softmax(teacher(torch.tensor([r["ids"]])).logits[0], -1)
            entries = []
            for pos, label in enumerate(r["labels"]):
                if label >= 0:
                    v, i = logp[pos].topk(5)
                    entries.append({"ids": i.tolist(), "logprobs": v.tolist()})
            topk_rows.append({**r, "teacher_topk": entries})
    spec = distill_spec(teacher_dir, student_dir, [
        stage("warm", 4, temperature={"kind": "linear", "from": 4, "to": 1}),
        {**stage("sparse", 3, teacherTargets="offline-topk", alpha=0.9), "data": {"path": "x", "maxSeqLen": 64, "teacherTopK": {"k": 5}}},
        {**stage("sft", 2, teacherTargets="none", divergence="none"), "lr": 1e-3},
    ], optimizer={"lr": 2e-3, "schedule": {"kind": "linear", "warmupSteps": 0, "minLrRatio": 0.0}})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows, topk_rows, rows]))
    assert rc == 0, events[-3:]
    steps = of_type(events, "step")
    assert [(e["step"], e["stage"]) for e in steps] == [(0, 0), (1, 0), (2, 0), (3, 0), (4, 1), (5, 1), (6, 1), (7, 2), (8, 2)]
    assert [e["metrics"]["temperature"] for e in steps[:4]] == [4.0, 3.0, 2.0, 1.0]
    # lr (schedules.ts): linear decay over all 9 planned steps to 0 at the last; sft's own lr replaces the peak
    want_lr = [(1e-3 if s >= 7 else 2e-3) * (1 - s / 8) for s in range(9)]
    worst = max(abs(e["metrics"]["lr"] - w) for e, w in zip(steps, want_lr))
    assert worst < 1e-12, worst
    assert all(e["metrics"]["soft"] > 0 for e in steps[:7]) and all(e["metrics"]["soft"] == 0 for e in steps[7:])
    assert all(e["loss"] == pytest.approx(e["metrics"]["hard"], abs=1e-6) for e in steps[7:])
    sparse = steps[4]
    assert sparse["loss"] == pytest.approx(0.9 * sparse["metrics"]["soft"] + 0.1 * sparse["metrics"]["hard"], abs=1e-5)
    logs = [e["message"] for e in of_type(events, "log")]
    assert any("stage 2/3 'sparse'" in m for m in logs) and any("stage 3/3 'sft'" in m for m in logs)


def test_feature_terms_packing_and_eval(models, tmp_path):
    teacher_dir, student_dir = models
    rows = progression_rows(12, seed=4, lo=6, hi=10)
    packed = []
    for a, b in zip(rows[::2], rows[1::2]):  # two documents per row, labels never cross the boundary
        packed.append({"ids": a["ids"] + b["ids"], "labels": a["labels"][:-1] + [-1] + b["labels"],
                       "doc_starts": [0, len(a["ids"])]})
    spec = distill_spec(teacher_dir, student_dir, [stage("feat", 6, hidden={"weight": 0.5, "kind": "cosine", "layerMap": [[0, 1]]},
                                                         attention={"weight": 0.2, "layerMap": [[0, 0], [0, 1]]})],
                        eval={"everySteps": 3, "maxSamples": 4}, batch={"microBatch": 2, "gradAccumulation": 1})
    spec["stages"][0]["data"]["packing"] = True
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [packed]))
    assert rc == 0, events[-3:]
    steps = of_type(events, "step")
    for e in steps:
        m = e["metrics"]
        assert m["hidden"] > 0 and m["attention"] > 0
        want = 0.5 * m["soft"] + 0.5 * m["hard"] + 0.5 * m["hidden"] + 0.2 * m["attention"]
        assert abs(e["loss"] - want) < 1e-5
    evals = of_type(events, "eval")
    assert [e["step"] for e in evals] == [2, 5] and all(math.isfinite(e["metrics"]["eval_loss"]) for e in evals)


def _poison_teacher(src: str, dst: str, token: int) -> None:
    """A copy of the teacher whose embedding row `token` is NaN: any batch holding it goes non-finite."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name != "model.safetensors":
            with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
                g.write(f.read())
    tensors = load_file(os.path.join(src, "model.safetensors"))
    tensors["model.embed_tokens.weight"][token] = float("nan")
    save_file(tensors, os.path.join(dst, "model.safetensors"))


def test_nan_guard_skips_bad_steps_then_stops_keeping_the_last_good_checkpoint(models, tmp_path):
    teacher_dir, student_dir = models
    bad = str(tmp_path / "nan-teacher")
    _poison_teacher(teacher_dir, bad, 2)
    clean = progression_rows(6)
    one_bad = clean[:5] + [{"ids": [2] + clean[5]["ids"][1:], "labels": clean[5]["labels"]}]
    all_bad = [{"ids": [2] + r["ids"][1:], "labels": r["labels"]} for r in clean]
    spec = distill_spec(bad, student_dir, [stage("mixed", 12), stage("poisoned", 50)], maxBadSteps=3,
                        batch={"microBatch": 1, "gradAccumulation": 1}, checkpoint={"everySteps": 12, "keepLast": 5})
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [one_bad, all_bad]))
    assert rc == P.EXIT_FAILED, events[-3:]
    errors = of_type(events, "error")
    skipped = [e for e in errors if e["recoverable"]]
    fatal = [e for e in errors if not e["recoverable"]]
    in_mixed = [e for e in skipped if "stage 'mixed'" in e["where"]]
    steps = {e["step"] for e in of_type(events, "step")}
    assert 1 <= len(in_mixed) < 12 and len(steps) == 12 - len(in_mixed)  # a skipped step emits no step event
    assert len(fatal) == 1 and "3 consecutive non-finite steps" in fatal[0]["message"]
    assert "step-12" in fatal[0]["message"] and "stage 'poisoned'" in fatal[0]["where"]
    assert events[-1] == {"type": "state", "state": "failed"}
    assert [c["step"] for c in of_type(events, "checkpoint")] == [12]
    assert sorted(os.listdir(os.path.join(str(tmp_path / "job"), "checkpoints"))) == ["step-12"]
    kept = load_model(os.path.join(str(tmp_path / "job"), "checkpoints", "step-12"))
    assert all(torch.isfinite(p).all() for p in kept.parameters())


def _wait_for(proc, want, timeout=60.0):
    """Read events until `want(event)`; returns everything read."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.extend(parse_events(line))
        if want(seen[-1]):
            return seen
    raise AssertionError(f"no matching event; saw {seen[-5:]}; stderr: {proc.stderr.read()[-2000:]}")


def test_stdin_pause_resume_then_sigterm_checkpoints_and_exits_zero(models, tmp_path):
    teacher, student = models
    spec = distill_spec(teacher, student, [stage("long", 100000)])
    job = make_job(str(tmp_path / "job"), spec, [progression_rows(8)])
    proc = start_worker(job)
    try:
        _wait_for(proc, lambda e: e["type"] == "step" and e["step"] >= 2)
        proc.stdin.write('{"control": "pause"}\n')
        proc.stdin.flush()
        seen = _wait_for(proc, lambda e: e["type"] == "state")
        assert seen[-1]["state"] == "paused"
        time.sleep(0.5)  # paused: no step may come
        proc.stdin.write('this is not a control line\n{"control": "resume"}\n')
        proc.stdin.flush()
        seen = _wait_for(proc, lambda e: e["type"] == "state")
        assert seen[-1]["state"] == "running" and not of_type(seen, "step")
        assert any(e["type"] == "log" and e["level"] == "warn" and "ignored line" in e["message"] for e in seen)
        _wait_for(proc, lambda e: e["type"] == "step")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    rest = parse_events(out)
    assert proc.returncode == 0, err
    cps = of_type(rest, "checkpoint")
    assert len(cps) == 1 and rest[-1] == {"type": "state", "state": "stopped"}
    assert os.path.isfile(os.path.join(cps[0]["path"], P.TRAINER_STATE))
    assert os.path.basename(cps[0]["path"]) == f"step-{cps[0]['step']}"
    load_model(cps[0]["path"])


def test_control_lines_and_a_stop_request_mid_run(models, tmp_path, monkeypatch):
    """Control parses stdin lines (stop wakes a paused job); a stop mid-run checkpoints at the step
    boundary and ends 'stopped' (the same path SIGTERM takes)."""
    import io
    from retort_torch import worker
    from retort_torch.control import Control
    c = Control()
    c.listen(io.StringIO('{"control": "pause"}\n\n{"control": "stop"}\n'))
    deadline = time.time() + 5
    while not c.stop_requested and time.time() < deadline:
        time.sleep(0.01)
    assert c.stop_requested and not c.pause_requested

    made = []
    monkeypatch.setattr(worker, "Control", lambda *a, **k: made.append(Control(*a, **k)) or made[-1])

    class Events(io.StringIO):  # asks for a stop once step 1 is reported
        def write(self, text):
            if '"type": "step"' in text and '"step": 1,' in text:
                made[0].request("stop")
            return super().write(text)

    teacher, student = models
    job = make_job(str(tmp_path / "job"), distill_spec(teacher, student, [stage("s", 50)]), [progression_rows(8)])
    buf = Events()
    rc = worker.run(["--job", job], buf)
    events = parse_events(buf.getvalue())
    assert rc == 0 and [e["step"] for e in of_type(events, "step")] == [0, 1]
    assert [c["step"] for c in of_type(events, "checkpoint")] == [2] and events[-1]["state"] == "stopped"


def test_bad_spec_and_bad_rows_name_the_field(models, tmp_path):
    teacher, student = models
    spec = distill_spec(teacher, student, [stage("s", 2, alpha=1.5)])
    rc, events = run_inproc(make_job(str(tmp_path / "a"), spec, [progression_rows(4)]))
    assert rc == P.EXIT_BAD_INPUT
    assert "stages.0.loss.alpha: must be ≤ 1 (got 1.5)" in of_type(events, "error")[0]["message"]
    rows = progression_rows(4)
    rows[2]["labels"] = rows[2]["labels"][:-1]
    rc, events = run_inproc(make_job(str(tmp_path / "b"), distill_spec(teacher, student, [stage("s", 2)]), [rows]))
    assert rc == P.EXIT_BAD_INPUT
    msg = of_type(events, "error")[0]["message"]
    assert "data/stage-0.jsonl" in msg and ":3: field 'labels'" in msg, msg


def test_early_stopping_token_budget_and_tokenizer_files(models, tmp_path):
    """Stage 1 trains away from its eval set, so eval_loss rises and patience ends it early; stage 2
    stops at its token budget. The student carries a tokenizer: checkpoints copy it, samples decode."""
    from jobkit import bigram_model
    teacher, _ = models
    student = str(tmp_path / "student")
    bigram_model(student, {"A:": [" x"]})
    rows = progression_rows(12, seed=8)
    contrary = [{**r, "labels": [(l + 1) % 120 + 3 if l >= 0 else -1 for l in r["labels"]]} for r in rows[:4]]
    spec = distill_spec(teacher, student, [stage("fit", 40, alpha=0.0), {**stage("budget", 40), "stop": {"steps": 40, "maxTokens": 100}}],
                        optimizer={"lr": 1e-2, "weightDecay": 0.0}, eval={"everySteps": 1, "dataset": "contrary.jsonl", "maxSamples": 4},
                        batch={"microBatch": 2, "gradAccumulation": 1})
    spec["stages"][0]["stop"]["earlyStopPatience"] = 2
    rc, events = run_inproc(make_job(str(tmp_path / "job"), spec, [rows, rows], {P.EVAL_DATA_FILE: contrary}))
    assert rc == 0, events[-3:]
    evals = [e for e in of_type(events, "eval") if e["stage"] == 0]
    losses_ = [e["metrics"]["eval_loss"] for e in evals]
    best = min(range(len(losses_)), key=lambda i: losses_[i])
    assert len(evals) == best + 3 < 40  # two evaluations without improvement after the best end the stage
    assert any("early stop" in e["message"] for e in of_type(events, "log"))
    steps = of_type(events, "step")
    before = [e["metrics"]["tokens"] for e in steps if e["stage"] == 0][-1]  # job total when stage 2 starts
    budget = [e["metrics"]["tokens"] - before for e in steps if e["stage"] == 1]
    assert len(budget) < 40 and budget[-2] < 100 <= budget[-1]  # stops at the first step reaching 100 tokens
    samples = of_type(events, "sample")
    assert samples and all(s["source"] == "student" and isinstance(s["output"], str) for s in samples)
    final = of_type(events, "checkpoint")[-1]["path"]
    assert {"tokenizer.json", "generation_config.json"} <= set(os.listdir(final))
