"""The job worker the runner spawns (protocol.py):

    python3 -m retort_torch.worker --job JOB_DIR [--resume CHECKPOINT_DIR] [--fsdp]
    torchrun --nproc_per_node N -m retort_torch.worker --job JOB_DIR [...]

Reads JOB_DIR/spec.json, runs the job named by its `kind`, speaks JSON lines on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import List, Optional, TextIO

from . import protocol as P
from .config import ConfigError
from .control import Control, exit_with_parent
from .data import DataError
from .distributed import init_distributed, shutdown
from .events import Emitter
from .safetensors_io import SafetensorsError
from .spec import DistillSpec, EvalSpec, SpecError, TeacherGenerateSpec, load_spec
from .tokenizer import TokenizerError

BAD_INPUT = (SpecError, DataError, ConfigError, SafetensorsError, TokenizerError)


def main(argv: Optional[List[str]] = None) -> int:
    # stdout belongs to the protocol: anything printed by accident goes to stderr instead
    events_out = sys.stdout
    sys.stdout = sys.stderr
    try:
        return run(argv, events_out, interactive=True)
    finally:
        sys.stdout = events_out


def run(argv: Optional[List[str]], events_out: TextIO, interactive: bool = False) -> int:
    """Run one job, events to `events_out`. `interactive` (the real process) also obeys stdin control
    lines and SIGTERM; tests call this in-process without them."""
    ap = argparse.ArgumentParser(prog="python3 -m retort_torch.worker", description="Retort torch worker: run one job.")
    ap.add_argument("--job", required=True, help="job folder holding spec.json (and data/, checkpoints/)")
    ap.add_argument("--resume", default=None, help="checkpoint folder to continue from (distill)")
    ap.add_argument("--fsdp", action="store_true", help="shard the student with FSDP under torchrun (big students)")
    args = ap.parse_args(argv)
    env = init_distributed()
    out = Emitter(events_out, enabled=env.is_main)
    control = Control(on_bad_line=lambda m: out.log(m, "warn"))
    if interactive:
        control.install_sigterm()
        exit_with_parent()  # after the handler: a parent already gone sends SIGTERM at once
        out.on_closed = lambda: control.request("stop")
        if env.is_main:
            control.listen()
    try:
        return _run(args, env, out, control)
    finally:
        shutdown(env)


def _run(args: argparse.Namespace, env, out: Emitter, control: Control) -> int:  # type: ignore[no-untyped-def]
    spec_path = os.path.join(args.job, P.SPEC_FILE)
    try:
        spec, warnings = load_spec(spec_path)
        with open(spec_path, "r", encoding="utf-8") as f:
            raw_spec = json.load(f)
    except SpecError as e:
        out.error(str(e), recoverable=False, where=spec_path)
        out.state("failed")
        return P.EXIT_BAD_INPUT
    for w in warnings:
        out.log(f"{spec_path}: {w}", "warn")
    if args.resume is not None and not isinstance(spec, DistillSpec):
        out.log(f"--resume is ignored by {spec.kind} jobs (they restart)", "warn")
    out.state("running")
    try:
        if isinstance(spec, DistillSpec):
            from .jobs import distill
            result = distill.run(spec, raw_spec, args.job, out, control, env, args.resume, args.fsdp)
        elif isinstance(spec, TeacherGenerateSpec):
            from .jobs import teacher_generate
            result = teacher_generate.run(spec, args.job, out, control)
        elif isinstance(spec, EvalSpec):
            from .jobs import evaluate
            result = evaluate.run(spec, args.job, out, control)
        else:  # pragma: no cover - parse_spec refuses other kinds
            raise SpecError(f"{spec_path}: kind: not run by the torch worker")
    except BAD_INPUT as e:
        out.error(str(e), recoverable=False)
        out.state("failed")
        return P.EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 - the runner must hear about every failure
        traceback.print_exc(file=sys.stderr)
        where = getattr(e, "where", None) or _origin(e)
        out.error(f"{type(e).__name__}: {e}", recoverable=False, where=where)
        out.state("failed")
        return P.EXIT_FAILED
    out.state(result)
    return P.EXIT_OK


def _origin(e: BaseException) -> str:
    """file:line of the innermost frame, for the error event's `where`."""
    tb = traceback.extract_tb(e.__traceback__)
    return f"{os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
