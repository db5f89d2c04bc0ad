"""Progress on the terminal (stderr) while a DAG runs: one line per task state change with the
elapsed time, then a summary table. Silent when the caller prints JSON."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Mapping
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

    def table(self, tasks: Iterable[Mapping[str, object]], verdict: str) -> None:
        if self.quiet:
            return
        rows = list(tasks)
        with self._lock:
            print(file=self.stream)
            print(f"{'task':<16} {'phase':<10} {'seconds':>8}", file=self.stream)
            for t in rows:
                print(f"{t['name']!s:<16} {t.get('phase', '')!s:<10} {float(t.get('seconds') or 0):8.1f}",
                      file=self.stream)
            print(verdict, file=self.stream, flush=True)
