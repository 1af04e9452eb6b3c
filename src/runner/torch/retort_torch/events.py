"""Telemetry out: one JSON line per event on stdout (protocol.py), nothing else there.

`Emitter` is the only writer of stdout in a worker process. Non-finite numbers become null (JSON has
no NaN); a disabled emitter (ranks > 0 under torchrun) drops everything.
"""
from __future__ import annotations

import json
import math
import sys
import threading
from typing import Any, Dict, Optional, TextIO

from . import protocol as P


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Emitter:
    def __init__(self, out: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.out = out if out is not None else sys.stdout
        self.enabled = enabled
        self._lock = threading.Lock()  # HTTP worker threads report progress too

    def emit(self, event: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(_finite(event), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    # shorthands for the common events
    def log(self, message: str, level: str = "info") -> None:
        print(f"[retort_torch] {level}: {message}", file=sys.stderr, flush=True)
        self.emit(P.log_event(level, message))

    def error(self, message: str, recoverable: bool, where: Optional[str] = None) -> None:
        print(f"[retort_torch] error: {message}", file=sys.stderr, flush=True)
        self.emit(P.error_event(message, recoverable, where))

    def state(self, state: str) -> None:
        self.emit(P.state_event(state))

    def progress(self, done: int, total: int, what: str) -> None:
        self.emit(P.progress_event(done, total, what))
