"""Helpers of the runner tests (plain functions, imported where used): the runner's CLI in a
subprocess, its JSON log lines, and one conversion's results."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
REFERENCE_S2_L2A = (
    SHARED / "reference" / "eopf-products"
    / "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613.json"
)


def run_runner(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m runner ARGS` in a subprocess (the real CLI, exit code and streams)."""
    full_env = dict(os.environ)
    full_env.pop("GEOZARR_PARAMS_DIR", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO, check=False,
    )


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every stderr line must be one JSON object; returns them."""
    out = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        out.append(json.loads(line))
    return out


@dataclass
class Converted:
    """One real conversion through the CLI: its streams, outputs and the store."""

    output: str
    result: subprocess.CompletedProcess[str]
    outputs_dir: Path

    @property
    def stdout_json(self) -> dict[str, object]:
        return json.loads(self.result.stdout)


def store_digest(store: Path) -> str:
    """SHA-256 over every file of a local store: its path and bytes, in path order."""
    h = hashlib.sha256()
    for p in sorted(store.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(store)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
