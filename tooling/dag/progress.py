"""Progress on the terminal (stderr) while a DAG runs: one line per task state change with the
elapsed time (the report itself is printed by conformance.report). Silent when the caller prints
JSON or Markdown."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            print(f"[{time.monotonic() - self.start:7.1f}s] {text}", file=self.stream, flush=True)

    def task(self, name: str, phase: str, seconds: float | None = None, message: str = "") -> None:
        extra = f" {seconds:6.1f}s" if seconds is not None and phase not in ("Running", "Pending") else ""
        self.line(f"{name:<16} {phase:<10}{extra}" + (f"  {message}" if message else ""))
