"""The one exception base of the conformance package. The CLI edge (`conformance.__main__`, the
report step) turns it into one line on stderr and its exit code (2: the check cannot run)."""

from __future__ import annotations


class ConformanceError(Exception):
    """A check cannot run at all (the store or item cannot be read, a schema cannot be had)."""

    exit_code = 2
