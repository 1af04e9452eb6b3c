"""Learning-rate and temperature schedules — the same curves as src/core/schedules.ts.

Steps are 0-based optimizer-step indices within the span the schedule covers.
  lr          warm-up: lr · step / warmupSteps for step < warmupSteps (HF's convention: step 0 at 0);
              then with progress p = (step − warmup) / max(1, total − warmup) clamped to [0, 1]:
              constant lr; linear lr · (r + (1 − r)(1 − p)); cosine lr · (r + (1 − r) · ½(1 + cos πp)),
              r = minLrRatio
  temperature f = step / max(1, total − 1) clamped to [0, 1] (first step = from, last step = to);
              constant value; linear from + (to − from) f; cosine to + (from − to) · ½(1 + cos πf)
"""
from __future__ import annotations

import math

from .spec import LrSchedule, TemperatureSchedule


def lr_factor(sched: LrSchedule, step: int, total: int) -> float:
    """Multiplier of the peak lr at `step` of `total`."""
    if step < sched.warmup_steps:
        return step / sched.warmup_steps
    if sched.kind == "constant":
        return 1.0
    p = min(1.0, max(0.0, (step - sched.warmup_steps) / max(1, total - sched.warmup_steps)))
    r = sched.min_lr_ratio
    if sched.kind == "linear":
        return r + (1 - r) * (1 - p)
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))


def temperature_at(sched: TemperatureSchedule, step: int, total: int) -> float:
    if sched.kind == "constant":
        return sched.start
    f = min(1.0, max(0.0, step / max(1, total - 1)))
    if sched.kind == "linear":
        return sched.start + (sched.end - sched.start) * f
    return sched.end + (sched.start - sched.end) * 0.5 * (1 + math.cos(math.pi * f))
