"""A reader that closes the pipe early (`invoke validate --json | head -1`): the command ends quietly
with 141 (128 + SIGPIPE, as `cat` would in that pipe), no traceback on stderr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tooling import repo
from tooling.manifests import stdout


def _run_into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` with stdout a pipe nobody reads: its read end is closed before the start."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=repo.ROOT, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, check=False, timeout=60)
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--json", "--env", "staging"],
        ["validate", "--env", "staging"],
        ["render", "--env", "prod"],
    ],
    ids=" ".join,
)
def test_closed_stdout_exits_141_quietly(args):
    done = _run_into_closed_pipe(args)
    assert done.returncode == stdout.BROKEN_PIPE_EXIT == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


def test_emit_writes_and_returns_0(capsys):
    assert stdout.emit("a\nb\n") == 0
    assert capsys.readouterr().out == "a\nb\n"
