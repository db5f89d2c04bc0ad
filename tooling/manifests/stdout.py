"""The command-line edge's stdout: a reader that goes away (`invoke validate --json | head -1`)
ends the command quietly instead of with a BrokenPipeError traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from conformance.report import Report, cannot_run_report, output_format, render

# where a command's report goes: `show` prints it; `invoke conformance` over several products
# collects each product's report instead, to print them as one (tooling.dag.cli._combined)
ReportSink = Callable[[Report, str], int]

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


def show(report: Report, fmt: str = "table") -> int:
    """Print REPORT in format FMT (conformance.report.render); its exit code, or BROKEN_PIPE_EXIT
    when the reader left before the verdict was read whole."""
    if emit(render(report, fmt) + "\n"):
        return BROKEN_PIPE_EXIT
    return report.exit_code


def cannot_run(kind: str, message: str, *, fmt: str = "table", target: str = "", prefix: str = "",
               sink: ReportSink | None = None) -> int:
    """Exit 2 the same way for every command: the message on stderr (after PREFIX, default KIND)
    and, in JSON or Markdown, the report of a run that could not run (one `cannot-run` finding: a
    script always gets one), printed or given to SINK."""
    print(f"{prefix or kind}: cannot run: {message}", file=sys.stderr)
    if fmt != "table":
        report = cannot_run_report(kind, target, message)
        if sink is not None:
            sink(report, fmt)
        else:
            emit(render(report, fmt) + "\n")
    return 2


def chosen_format(kind: str, fmt: str = "", as_json: bool = False) -> str | None:
    """The format KIND prints (`conformance.report.output_format`); None once an unknown FMT is
    said on stderr the way `cannot_run` says it (the caller exits 2)."""
    try:
        return output_format(fmt, as_json)
    except ValueError as e:
        cannot_run(kind, str(e))
        return None
