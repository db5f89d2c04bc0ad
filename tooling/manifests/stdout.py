"""The command-line edge's stdout: a reader that goes away (`invoke validate --json | head -1`)
ends the command quietly instead of with a BrokenPipeError traceback."""

from __future__ import annotations

import sys

# what a shell reports for a command killed by SIGPIPE (128 + 13): output was cut short, as with
# `cat`/`grep` in the same pipe, so `set -o pipefail` still notices the verdict was not read whole
BROKEN_PIPE_EXIT = 141


def emit(text: str) -> int:
    """Write TEXT to stdout and flush it: 0, or BROKEN_PIPE_EXIT when the reader has closed the pipe.

    Nothing is left to fail again at exit: CPython 3.12 drops a buffer whose write failed (measured:
    no "Exception ignored … BrokenPipeError" at shutdown; tests/manifests/test_stdout.py checks it).
    A reader leaving in the middle of one large write may go unnoticed (Linux reports the partial
    write, not EPIPE): then the exit code is the command's own.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return BROKEN_PIPE_EXIT
    return 0
