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


def tool_error_text(stderr: str, *, limit: int = 8000) -> str:
    """The whole error text of an external tool (kubectl, kustomize, git): every non-blank line,
    the continuation lines indented under the first, bounded to LIMIT characters."""
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    text = "\n    ".join(lines) if lines else "no message"
    return text if len(text) <= limit else text[:limit] + f"\n    … ({len(text) - limit} more characters)"


def cannot_run(tool: str, message: str, *, as_json: bool) -> int:
    """Exit 2 the same way for every command: the message on stderr and, with --json, a report
    on stdout whose one finding is `cannot-run` (so a script reading the JSON always gets one)."""
    print(f"{tool}: cannot run: {message}", file=sys.stderr)
    if as_json:
        cannot_run_report(message)
    return 2


def cannot_run_report(message: str) -> None:
    """The JSON report of a command that cannot run: one `cannot-run` finding."""
    from conformance.findings import Rule, Severity, dumps

    rule = Rule("cannot-run", Severity.ERROR, "the command could run to the end")
    emit(dumps({"findings": [rule.finding(message)], "passed": False,
                "summary": {"valid": False, "cannot_run": True, "findings": {"error": 1}}}) + "\n")
