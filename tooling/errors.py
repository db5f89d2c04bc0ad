"""The one exception base of the repo tooling. The CLI edge (`tasks.py`, each command's `main`)
turns it into one line on stderr and its exit code; nothing below the edge prints or exits."""

from __future__ import annotations


class ToolingError(Exception):
    """A tooling command cannot run as asked (bad input, a missing tool, an unreachable cluster)."""

    exit_code = 2

