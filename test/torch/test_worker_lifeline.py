"""A worker does not outlive its runner: a closed stdin pipe, a closed stdout pipe, and the parent's death
(PR_SET_PDEATHSIG, Linux) each end the job through stop → checkpoint → exit, so no orphan trains on."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from jobkit import PYTHON, distill_spec, env, make_job, parse_events, progression_rows, stage, start_worker, tiny_pair
from retort_torch import protocol as P
from retort_torch import run_manifest


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_pair(str(tmp_path_factory.mktemp("models")))


def endless_job(models, root: str) -> str:
    teacher, student = models
    return make_job(root, distill_spec(teacher, student, [stage("long", 100000)]), [progression_rows(8)])


def first_step(stdout) -> None:
    """Read events until the first step event (the job is training)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        line = stdout.readline()
        assert line, "the worker ended before its first step"
        if parse_events(line)[-1]["type"] == "step":
            return
    raise AssertionError("no step event within 60 s")


def checkpoints(job: str) -> list:
    root = os.path.join(job, P.CHECKPOINTS_DIR)
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def gone(pid: int, timeout: float) -> float:
    """Seconds until `pid` no longer runs (a zombie counts as gone), or raises."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return time.time() - t0
        except FileNotFoundError:
            return time.time() - t0
        time.sleep(0.1)
    raise AssertionError(f"worker {pid} still runs {timeout} s after its parent died")


def test_closed_stdin_pipe_stops_with_a_checkpoint(models, tmp_path):
    job = endless_job(models, str(tmp_path / "job"))
    proc = start_worker(job)
    try:
        first_step(proc.stdout)
        proc.stdin.close()  # what the runner's death does to the pipe
        out = proc.stdout.read()  # up to the worker's exit
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        proc.kill()
    rest = parse_events(out)
    assert proc.returncode == 0, err
    assert len([e for e in rest if e["type"] == "checkpoint"]) == 1 and rest[-1] == {"type": "state", "state": "stopped"}


def test_closed_stdout_pipe_stops_with_a_checkpoint(models, tmp_path):
    job = endless_job(models, str(tmp_path / "job"))
    proc = start_worker(job)
    try:
        first_step(proc.stdout)
        proc.stdout.close()  # nobody reads events any more: the next one fails with EPIPE
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    (step,) = checkpoints(job)
    run_manifest.read(os.path.join(job, P.CHECKPOINTS_DIR, step))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only (the pipes cover the rest)")
def test_parent_killed_the_worker_checkpoints_and_exits(models, tmp_path):
    job = endless_job(models, str(tmp_path / "job"))
    # A stand-in runner, killed -9 once the worker trains. The worker's stdin and stdout are this test's pipes
    # (inherited through the parent), open all along: only the parent-death signal can tell the worker.
    parent_code = (
        "import subprocess, sys\n"
        f"w = subprocess.Popen([sys.executable, '-m', 'retort_torch.worker', '--job', {job!r}])\n"
        "print(w.pid, flush=True)\n"
        "w.wait()\n"
    )
    parent = subprocess.Popen([PYTHON, "-c", parent_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env(), cwd=os.path.dirname(job))
    try:
        worker = int(parent.stdout.readline())
        first_step(parent.stdout)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        took = gone(worker, 60)
    finally:
        parent.kill()
        try:
            os.kill(worker, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass
    print(f"worker exited {took:.1f} s after its parent was killed")
    (step,) = checkpoints(job)
    manifest = run_manifest.read(os.path.join(job, P.CHECKPOINTS_DIR, step))
    assert manifest["stage_name"] == "long" and manifest["step"] >= 1
