"""Issue 9, case 9: the GitHub workflows. zizmor (pinned in the dev group) audits `.github/`
offline with no finding at its default level; the promotion PR is made with a token that starts
CI; the diff preview of a fork PR computes without write access and comments from a
`workflow_run` that never runs the PR's code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def _zizmor() -> str:
    exe = Path(sys.executable).parent / "zizmor"
    return str(exe) if exe.exists() else shutil.which("zizmor") or "zizmor"


def _load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_zizmor_finds_nothing_offline() -> None:
    done = subprocess.run([_zizmor(), "--offline", "--no-progress", str(REPO / ".github")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_would_catch_an_injection(tmp_path: Path) -> None:
    """The audit really runs (a workflow expanding the PR's branch name in a shell fails it)."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yaml").write_text(
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.head_ref }}\n")
    done = subprocess.run([_zizmor(), "--offline", "--no-progress", str(tmp_path / ".github")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0 and "template-injection" in done.stdout + done.stderr


def test_promotion_pr_is_made_with_a_token_that_triggers_ci() -> None:
    text = (WORKFLOWS / "promote.yaml").read_text()
    steps = _load("promote.yaml")["jobs"]["promote"]["steps"]
    pr_step = next(s for s in steps if "gh pr create" in s.get("run", ""))
    assert pr_step["env"]["GH_TOKEN"] == "${{ secrets.PROMOTION_TOKEN }}"
    assert "git push" in pr_step["run"] and "gh auth setup-git" in pr_step["run"]
    assert "github.token" not in text and "GITHUB_TOKEN }}" not in text


def test_fork_pr_diff_preview_computes_read_only_and_comments_from_workflow_run() -> None:
    preview = _load("diff-preview.yaml")
    [job] = preview["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    comment = _load("diff-preview-comment.yaml")
    on = comment[True] if True in comment else comment["on"]  # YAML 1.1 reads `on` as true
    assert on["workflow_run"]["workflows"] == ["diff-preview"]
    [cjob] = comment["jobs"].values()
    assert cjob["permissions"]["pull-requests"] == "write"
    assert not any("actions/checkout" in s.get("uses", "") for s in cjob["steps"])
