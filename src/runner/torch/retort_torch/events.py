"""Telemetry out: one JSON line per event on stdout (protocol.py), nothing else there.

`Emitter` is the only writer of stdout in a worker process. Non-finite numbers become null (JSON has
no NaN); a disabled emitter (ranks > 0 under torchrun) drops everything. When the reader is gone (a
write fails with a broken pipe: the runner died) the emitter calls `on_closed` once, which stops the job,
and points stdout and stderr at /dev/null so the checkpoint on the way out is not lost to an EPIPE.
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
from typing import Any, Callable, Dict, Optional, TextIO

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
    def __init__(self, out: Optional[TextIO] = None, enabled: bool = True,
                 on_closed: Optional[Callable[[], None]] = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.enabled = enabled
        self.on_closed = on_closed
        self._closed = False
        self._lock = threading.Lock()  # HTTP worker threads report progress too

    def emit(self, event: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(_finite(event), ensure_ascii=False, allow_nan=False)
        with self._lock:
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except BrokenPipeError:
                self._reader_gone()

    # shorthands for the common events
    def log(self, message: str, level: str = "info") -> None:
        self._stderr(f"[retort_torch] {level}: {message}")
        self.emit(P.log_event(level, message))

    def error(self, message: str, recoverable: bool, where: Optional[str] = None) -> None:
        self._stderr(f"[retort_torch] error: {message}")
        self.emit(P.error_event(message, recoverable, where))

    def _stderr(self, text: str) -> None:
        try:
            print(text, file=sys.stderr, flush=True)
        except BrokenPipeError:  # stderr goes to the runner too: it is gone
            with self._lock:
                self._reader_gone()

    def _reader_gone(self) -> None:
        """Called under the lock. Later writes, by us or by a print anywhere, land in /dev/null."""
        if self._closed:
            return
        self._closed, self.enabled = True, False
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        if self.on_closed is not None:
            self.on_closed()

    def state(self, state: str) -> None:
        self.emit(P.state_event(state))

    def progress(self, done: int, total: int, what: str) -> None:
        self.emit(P.progress_event(done, total, what))
