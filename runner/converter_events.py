"""Route everything the converter and its libraries say into the step's JSON events.

eopf-geozarr logs through structlog (to stdout by default), libraries through
stdlib logging and `warnings`. While `captured(log)` is active, all of them
become JSON lines on stderr (one per event) and stdout stays clean for
`--json`. Known noise is demoted to debug (dropped).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import structlog

from runner.events import EventLog

# Messages eopf-geozarr repeats once per array without a dask client: not news.
_NOISE = (
    "Could not use distributed features",
    "No distributed client available",
    "Unknown encoding keys in",
    "Variables",
)
# Import-time warnings of the converter's dependencies that say nothing about this run.
_NOISY_WARNINGS = frozenset({"TypedDictExtraConfigWarning"})
# Converter stages, in order: progress events say how far the conversion is.
STAGES = (
    "Starting S2 optimized conversion",
    "Step 1:",
    "Step 2:",
    "Created multiscale pyramids",
    "Step 3:",
    "Optimization complete",
)


def _progress_stage(message: str) -> int | None:
    for i, prefix in enumerate(STAGES, 1):
        if message.startswith(prefix):
            return i
    return None


class _StructlogBridge:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def __call__(self, _logger: Any, method: str, event_dict: dict[str, Any]) -> Any:
        message = str(event_dict.pop("event", ""))
        args = event_dict.pop("positional_args", None)
        if args:
            with contextlib.suppress(TypeError, ValueError):
                message = message % tuple(args)
        event_dict.pop("level", None)
        event_dict.pop("timestamp", None)
        fields = {"origin": "eopf-geozarr",
                  **{k: v for k, v in event_dict.items() if k not in {"step", "message", "ts", "origin"}}}
        if any(message.startswith(n) for n in _NOISE) or method == "debug":
            raise structlog.DropEvent
        stage = _progress_stage(message)
        if stage is not None:
            self.log.progress(message, done=stage, total=len(STAGES), **fields)
        elif method in {"warning", "warn"}:
            self.log.warning(message, **fields)
        elif method in {"error", "exception", "critical"}:
            self.log.warning(message, converter_level=method, **fields)
        else:
            self.log.info(message, **fields)
        raise structlog.DropEvent


class _LoggingHandler(logging.Handler):
    def __init__(self, log: EventLog) -> None:
        super().__init__(level=logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001
            message = str(record.msg)
        self.log.warning(message, origin=record.name)


class _LineStream(io.TextIOBase):
    """A text stream turning each written line into an info event (for stray prints)."""

    def __init__(self, log: EventLog, source: str) -> None:
        self.log = log
        self.source = source
        self._buf = ""

    def write(self, s: str) -> int:
        self._buf += s
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                self.log.info(line.strip(), origin=self.source)
        return len(s)

    def flush(self) -> None:
        if self._buf.strip():
            self.log.info(self._buf.strip(), origin=self.source)
        self._buf = ""


@contextlib.contextmanager
def captured(log: EventLog) -> Iterator[None]:
    old_structlog = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, _StructlogBridge(log)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    handler = _LoggingHandler(log)
    root.addHandler(handler)
    seen: set[str] = set()
    old_showwarning = warnings.showwarning

    def showwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
        text = str(message)
        if category.__name__ in _NOISY_WARNINGS or text in seen:
            return
        seen.add(text)
        log.warning(text, origin="warnings", category=category.__name__)

    warnings.showwarning = showwarning  # type: ignore[assignment]
    stdout = _LineStream(log, "stdout")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = showwarning  # type: ignore[assignment]
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            with contextlib.redirect_stdout(stdout):
                yield
    finally:
        stdout.flush()
        warnings.showwarning = old_showwarning
        root.removeHandler(handler)
        structlog.configure(**old_structlog)
        sys.stdout.flush()
