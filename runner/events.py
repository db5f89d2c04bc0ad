"""One JSON object per line on stderr for every event of a step.

Credentials in URLs are masked (`runner.urls`). Each line has `ts` (UTC, ISO 8601), `step`, `level`, `message` and the event's
fields. Progress events have `event: "progress"`, `done` and `total`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from runner import urls


def _default(o: object) -> object:
    return str(o)


@dataclass
class EventLog:
    """Writes the step's events; `quiet` keeps info/progress lines off the stream."""

    step: str
    stream: IO[str] | None = None
    quiet: bool = False
    _started: float = field(default_factory=time.monotonic)

    def _emit(self, level: str, message: str, fields: dict[str, object]) -> None:
        if self.quiet and level in {"info", "debug"}:
            return
        record: dict[str, object] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "step": self.step,
            "level": level,
            "message": message,
        }
        record.update(fields)
        out = self.stream if self.stream is not None else sys.stderr
        out.write(urls.mask(json.dumps(record, default=_default)) + "\n")
        out.flush()

    def info(self, message: str, **fields: object) -> None:
        self._emit("info", message, fields)

    def warning(self, message: str, **fields: object) -> None:
        self._emit("warning", message, fields)

    def error(self, message: str, **fields: object) -> None:
        self._emit("error", message, fields)

    def progress(self, message: str, done: int, total: int, **fields: object) -> None:
        self._emit(
            "info",
            message,
            {"event": "progress", "done": done, "total": total,
             "elapsed_s": round(time.monotonic() - self._started, 3), **fields},
        )
