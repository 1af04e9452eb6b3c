"""Control in: stdin lines {"control": "pause"|"resume"|"stop"} and SIGTERM (= stop).

A worker must not outlive the runner that reads its events (a `kill -9` of the runner would leave an
orphan training on, its events lost): `exit_with_parent` has the kernel send SIGTERM when the parent
dies, and a stdin pipe that reaches EOF (the runner closed or lost its end) also means stop. Both go
through the same stop → checkpoint → exit path. A closed stdout is the Emitter's to notice (events.py).

A daemon thread reads stdin and sets flags; the job loop polls `checkpoint_due()` style methods
between optimizer steps, so a stop always lands on a step boundary and the checkpoint it writes is
consistent. Under torchrun only rank 0 reads stdin; `sync` shares its decision with the other ranks.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import stat
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
        """Read control lines from `stream` (stdin) in a daemon thread. EOF on a pipe means stop: the
        runner holds its end open for the worker's whole life. EOF on anything else (/dev/null, a
        file, a terminal) changes nothing, so a worker started by hand runs to the end."""
        src = stream if stream is not None else sys.stdin
        threading.Thread(target=self._read, args=(src,), name="retort-control", daemon=True).start()

    def install_sigterm(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request("stop"))

    def _read(self, src: TextIO) -> None:
        self._read_lines(src)
        if _is_pipe(src):
            self.request("stop")

    def _read_lines(self, src: TextIO) -> None:
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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent() -> bool:
    """Linux: have the kernel send SIGTERM when the parent process (the runner, or torchrun) dies, so the
    usual stop → checkpoint → exit runs instead of an orphan training on. Returns whether it was set.
    Elsewhere (macOS, Windows) there is no such call and this silently does nothing: there the closed
    stdin pipe (Control.listen) and stdout pipe (Emitter) still end the job, at its next read or event."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the parent died before prctl: no signal will come for it
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def _is_pipe(stream: TextIO) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False
