"""The one identifier policy of the pipeline: STAC item ids and collection ids.

An id is 1-255 characters of ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
digit (`ID_PATTERN`), and is not `.`/`..`-like. Ids become S3 key segments
(`{prefix}/{collection}/{item_id}.zarr`), STAC API URL segments and Kubernetes label values, so a
`/`, `..`, a newline or markup must never get past the first step that sees one: the runner's steps
check them at the start, `invoke conformance` before submitting, the STAC checks on items.
Argo offers no pattern check of workflow parameters (only `enum`), so in the cluster the first
step is the check. Note that `geozarr-convert` also copies the collection and item id into
Workflow labels, whose values Kubernetes limits to 63 characters.
"""

from __future__ import annotations

import re
from typing import Final

from runner.errors import BadInput

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
_ID = re.compile(ID_PATTERN)


def problem(value: object) -> str:
    """Why VALUE is not a valid id ('' when it is)."""
    if not isinstance(value, str):
        return f"not a string: {type(value).__name__}"
    if not value:
        return "empty"
    if len(value) > 255:
        return f"{len(value)} characters (at most 255)"
    if not _ID.fullmatch(value):
        return f"must match {ID_PATTERN} (letters, digits, '.', '_', '-'; no '/', spaces or markup)"
    if ".." in value:
        return "contains '..'"
    return ""


def check(kind: str, value: object) -> str:
    """VALUE when it is a valid id; else BadInput naming KIND (e.g. 'item id')."""
    why = problem(value)
    if why:
        raise BadInput(f"{kind} {value!r}: {why}", field=kind)
    return str(value)
