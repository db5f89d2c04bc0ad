"""JSON from outside (metadata documents, run manifests, STAC items) parsed within bounds.

Python's `json` recurses once per nesting level: a document nested a few thousand levels deep
(`[[[[…`, 200 KB is enough) raises RecursionError, which is not a ValueError and so escaped every
`except ValueError` of the readers as a traceback. `loads` turns it, and any document larger than
`max_bytes`, into a ValueError naming the line where the limit is crossed.
"""

from __future__ import annotations

import json
from typing import Any, Final

MAX_DEPTH: Final = 512
MAX_BYTES: Final = 256 * 1024 * 1024


def _too_deep_at(text: str, max_depth: int) -> tuple[int, int]:
    """(line, depth) where nesting first exceeds MAX_DEPTH; strings are skipped."""
    depth, line, in_string, escaped = 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return line, depth
        elif ch in "]}":
            depth -= 1
    return line, depth


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """`json.loads` with a size limit, and a ValueError naming the line (not a RecursionError)
    for a document nested deeper than the parser can go. Documents that parse are not scanned."""
    if len(data) > max_bytes:
        raise ValueError(f"document of {len(data)} bytes: larger than the limit of {max_bytes}")
    try:
        return json.loads(data)
    except RecursionError:
        pass
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    line, depth = _too_deep_at(text, max_depth)
    where = f"line {line}: " if depth > max_depth else ""
    raise ValueError(f"{where}nested too deep for the JSON parser (more than {max_depth} levels)")
