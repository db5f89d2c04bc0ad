"""Issue 9, case 6: unbounded input. An 800-byte YAML alias bomb made `invoke lint` run 53 s and
reach 3 GB; deep nesting crashed libyaml's composer (SIGSEGV) or raised RecursionError. Now each
is a finding naming the file and line, in a process whose memory is capped (so unbounded growth
fails the test instead of the machine) and whose time is bounded by the test's timeout."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOMB = REPO / "tests" / "schema" / "fixtures" / "yaml.limits" / "invalid.yaml"
CAP = 1536 * 1024 * 1024  # address space of the child: far below what expanding the bomb takes

LINT = "import sys; from tooling.manifests.lint import main; sys.exit(main(sys.argv[1], as_json=True))"


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LINT, str(path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120, preexec_fn=_capped, check=False)


@pytest.mark.parametrize("name", ["alias-bomb", "deep-flow", "deep-block", "deep-sequence"])
def test_lint_reports_unbounded_yaml_as_a_finding(tmp_path: Path, name: str) -> None:
    texts = {
        "alias-bomb": BOMB.read_text(),
        "deep-flow": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "deep-block": "a:\n" + "".join(" " * i + "k:\n" for i in range(1, 3000)),
        "deep-sequence": "- " * 5000 + "x\n",
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(texts[name])
    r = _lint(path)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    [finding] = json.loads(r.stdout)["findings"]
    assert finding["rule"] == "yaml.limits" and finding["file"].endswith(f"{name}.yaml")
    assert "line " in finding["message"]


def test_deep_json_is_a_line_not_a_recursion_error() -> None:
    from runner import bounded_json

    text = '{"a":\n' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(ValueError, match=r"line 2: nested too deep"):
        bounded_json.loads(text)
    assert len(json.dumps(bounded_json.loads("[" * 100 + "]" * 100))) == 200
