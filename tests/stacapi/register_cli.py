"""The `register` step's CLI as the pipeline runs it: a subprocess, or in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Variables the register step reads; cleared so the developer's shell cannot leak in.
STEP_ENV = ("STAC_API_URL", "COLLECTION", "STAC_API_TOKEN", "GEOZARR_PARAMS_DIR", "S3_ENDPOINT")


def run_register(*args: str, env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m runner register ARGS` in a subprocess: the real CLI, exit code and streams."""
    full_env = {k: v for k, v in os.environ.items() if k not in STEP_ENV}
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "runner", "register", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=REPO, check=False)


def register(*args: str) -> int:
    """`geozarr-runner register ARGS` in this process (same parser, outputs and exit codes)."""
    from runner.cli import main

    return main(["register", *args])


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line is one JSON object (fails on a traceback or stray text)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]
