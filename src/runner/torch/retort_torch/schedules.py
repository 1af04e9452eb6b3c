"""Learning-rate and temperature schedules — a line-for-line mirror of src/core/schedules.ts.

Steps are 0-based; the last step (total − 1) lands exactly on the schedule's end value.
  lr          warm-up lr · (step + 1) / warmupSteps for step < warmupSteps (step 0 already trains);
              then with p = ramp(step − warmup, total − warmup): constant lr; linear lr + (r·lr − lr)·p;
              cosine r·lr + (lr − r·lr) · ½(1 + cos πp), r = minLrRatio
  temperature p = ramp(step, total); constant value; linear from + (to − from)·p;
              cosine to + (from − to) · ½(1 + cos πp)
  ramp(s, n)  0 at the first of n steps, 1 at the last, clamped beyond; 1 when n ≤ 1
"""
from __future__ import annotations

import math

from .spec import LrSchedule, TemperatureSchedule


def _ramp(step: int, n: int) -> float:
    return 1.0 if n <= 1 else min(1.0, step / (n - 1))


def _check(step: int, total: int) -> None:
    if step < 0 or total < 1:
        raise ValueError(f"schedule: step {step} must be ≥ 0 and totalSteps {total} ≥ 1")


def lr_at(lr: float, sched: LrSchedule, step: int, total: int) -> float:
    _check(step, total)
    w = sched.warmup_steps
    if step < w:
        return lr * (step + 1) / w
    floor = sched.min_lr_ratio * lr
    p = _ramp(step - w, total - w)
    if sched.kind == "constant":
        return lr
    if sched.kind == "linear":
        return lr + (floor - lr) * p
    return floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * p))


def temperature_at(sched: TemperatureSchedule, step: int, total: int) -> float:
    _check(step, total)
    if sched.kind == "constant":
        return sched.start
    p = _ramp(step, total)
    if sched.kind == "linear":
        return sched.start + (sched.end - sched.start) * p
    return sched.end + (sched.start - sched.end) * 0.5 * (1 + math.cos(math.pi * p))
