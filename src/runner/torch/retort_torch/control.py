"""Control in: stdin lines {"control": "pause"|"resume"|"stop"} and SIGTERM (= stop).

A daemon thread reads stdin and sets flags; the job loop polls `checkpoint_due()` style methods
between optimizer steps, so a stop always lands on a step boundary and the checkpoint it writes is
consistent. Under torchrun only rank 0 reads stdin; `sync` shares its decision with the other ranks.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Callable, Optional, TextIO

from . import protocol as P


class Control:
    def __init__(self, on_bad_line: Optional[Callable[[str], None]] = None) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self._on_bad_line = on_bad_line

    # ---- sources ----
    def listen(self, stream: Optional[TextIO] = None) -> None:
        """Read control lines from `stream` (stdin) in a daemon thread; EOF changes nothing."""
        src = stream if stream is not None else sys.stdin
        threading.Thread(target=self._read, args=(src,), name="retort-control", daemon=True).start()

    def install_sigterm(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request("stop"))

    def _read(self, src: TextIO) -> None:
        for raw in src:
            line = raw.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
                action = msg["control"] if isinstance(msg, dict) else None
            except (ValueError, KeyError):
                action = None
            if action in P.CONTROLS:
                self.request(action)
            elif self._on_bad_line is not None:
                self._on_bad_line(f"stdin: ignored line {line[:200]!r}: expected {{\"control\": \"pause\"|\"resume\"|\"stop\"}}")

    def request(self, action: str) -> None:
        if action == "stop":
            self._stop.set()
            self._running.set()  # a paused job must wake up to stop
        elif action == "pause":
            self._running.clear()
        elif action == "resume":
            self._running.set()

    # ---- what the job loop asks ----
    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: Optional[float] = None) -> None:
        self._running.wait(timeout)
