"""Every command of the project on bad input: exit 2 and one clear line on stderr, never a
traceback, a hang or no answer (issue 9). The image's CLIs (`geozarr-runner` steps,
`geozarr-conformance`) run as real processes; the invoke tasks' underlying mains in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEEP = "[" * 200_000 + "]" * 200_000


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "not-json.json").write_text("{not json")
    (d / "deep.json").write_text(DEEP)
    (d / "deep-item.json").write_text('{"type": "Feature", "id": "x", "properties": ' + DEEP + "}")
    (d / "deep.zarr").mkdir()
    (d / "deep.zarr" / "zarr.json").write_text(DEEP)
    (d / "deep-run.zarr").mkdir()
    (d / "deep-run.zarr" / "run.json").write_text(DEEP)
    (d / "traversal-item.json").write_text(json.dumps({"type": "Feature", "id": "../../etc",
                                                       "collection": "c"}))
    (d / "empty.zarr").mkdir()
    (d / "victim").mkdir()
    (d / "victim" / "a.tex").write_text("x")
    return d


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOZARR_PARAMS", "AWS_"))}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120, check=False)


def _one_line_exit_2(code: int, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr[-2000:]
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr and "RecursionError" not in stderr


RUNNER = [
    ["frobnicate"],
    [],
    ["sample", "{d}/s.zarr", "--size", "7"],
    ["preflight", "{d}/missing.zarr"],
    ["preflight", "{d}/empty.zarr"],
    ["preflight", "{d}/not-json.json"],
    ["convert", "{d}/missing.zarr", "{d}/out.zarr", "--collection", "c"],
    ["convert", "{d}/missing.zarr", "{d}/out.zarr", "--collection", "c", "--compression-level", "99"],
    ["convert", "{d}/missing.zarr", "{d}/out.zarr", "--collection", "../../etc"],
    ["convert", "{d}/missing.zarr", "{d}/out.zarr", "--item-id", "a\nb", "--collection", "c"],
    ["convert", "{d}/missing.zarr", "ftp://host/out.zarr", "--collection", "c"],
    ["stac", "{d}/empty.zarr", "-o", "{d}/item.json", "--collection", "c", "--item-id", "x"],
    ["stac", "{d}/deep-run.zarr", "-o", "{d}/item.json", "--collection", "c", "--item-id", "x"],
    ["stac", "{d}/empty.zarr", "-o", "{d}/item.json", "--collection", "<script>", "--item-id", "x"],
    ["manifest", "{d}/empty.zarr"],
    ["manifest", "{d}/deep-run.zarr"],
    ["register", "{d}/not-json.json", "--stac-api-url", "http://127.0.0.1:9"],
    ["register", "{d}/deep.json", "--stac-api-url", "http://127.0.0.1:9"],
    ["register", "{d}/traversal-item.json", "--stac-api-url", "http://127.0.0.1:9"],
    ["register", "{d}/traversal-item.json", "--stac-api-url", "ftp://x"],
]


@pytest.mark.parametrize("argv", RUNNER, ids=[" ".join(a)[:60] or "(none)" for a in RUNNER])
def test_runner_steps(bad: Path, argv: list[str]) -> None:
    args = [a.format(d=bad) for a in argv]
    quiet = ["--quiet"] if args and args[0] != "frobnicate" else []
    r = _run("runner", *args, *quiet)
    _one_line_exit_2(r.returncode, r.stderr)
    assert json.loads(r.stderr)["level"] == "error"  # the runner's line is one JSON object


CONFORMANCE = [
    ["frobnicate"],
    ["geozarr", "{d}/missing.zarr", "--no-gdal"],
    ["geozarr", "{d}/deep.zarr", "--no-gdal"],
    ["geozarr", "{d}/victim", "--no-gdal"],
    ["stac", "{d}/not-json.json"],
    ["stac", "{d}/deep-item.json"],
    ["stac", "{d}/missing.json"],
    ["report"],
    ["report", "--run-id", "r", "--check", "{d}/deep.json", "--output", "{d}/report.json"],
]


@pytest.mark.parametrize("argv", CONFORMANCE, ids=[" ".join(a)[:60] for a in CONFORMANCE])
def test_conformance(bad: Path, argv: list[str]) -> None:
    r = _run("conformance", *[a.format(d=bad) for a in argv])
    _one_line_exit_2(r.returncode, r.stderr)


def _mains(d: Path) -> list[tuple[str, Callable[[], int]]]:
    from benchmarks import run as bench
    from conformance.stac import prefetch
    from tooling import sealing
    from tooling.dag import cli as dag
    from tooling.gitops import diff, promote
    from tooling.manifests import lint, render, validate

    digest = "sha256:" + "a" * 64
    return [
        ("render qa", lambda: render.main("qa")),
        ("validate qa", lambda: validate.main(["qa"])),
        ("validate --json qa", lambda: validate.main(["qa"], as_json=True)),
        ("lint missing", lambda: lint.main(str(d / "missing.yaml"))),
        ("lint empty dir", lambda: lint.main(str(d / "empty.zarr"))),
        ("diff qa", lambda: diff.main(["qa"])),
        ("diff bad ref", lambda: diff.main(["staging"], against="no-such-ref-xyz")),
        ("promote bad digest", lambda: promote.main("latest")),
        ("promote dev", lambda: promote.main(digest, env="dev")),
        ("conformance qa", lambda: dag.main(env="qa")),
        ("conformance overlay qa", lambda: dag.main(overlay="qa")),
        ("conformance parallelism 0", lambda: dag.main(parallelism=0)),
        ("conformance format bogus", lambda: dag.main(fmt="bogus")),
        ("bench nope", lambda: bench.main("nope")),
        ("seal argv values", lambda: sealing.main(["--env", "staging", "--namespace", "n",
                                                   "--name", "n", "k=v"])),
        ("seal missing file", lambda: sealing.main(["--env", "staging", "--namespace", "n",
                                                    "--name", "n", "--from-env-file",
                                                    str(d / "missing.env")])),
        ("prefetch off-policy", lambda: prefetch.main([str(d / "cache"),
                                                       "https://evil.example/schema.json"])),
        ("prefetch traversal", lambda: prefetch.main([str(d / "cache"),
                                                      "file:///etc/passwd"])),
    ]


MAIN_NAMES = [name for name, _ in _mains(Path("/nonexistent"))]


@pytest.mark.parametrize("name", MAIN_NAMES)
def test_invoke_task_mains(bad: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    fn = dict(_mains(bad))[name]
    code = fn()
    _one_line_exit_2(code, capsys.readouterr().err)


def test_json_always_prints_a_report(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9, case 5: a command given --json that cannot run still prints a JSON report whose
    one finding is `cannot-run` (validate, lint, diff, conformance in both modes)."""
    from tooling.dag import cli as dag
    from tooling.dag import localrun
    from tooling.errors import ToolingError
    from tooling.gitops import diff
    from tooling.manifests import lint, validate

    def refuse(*args: object, **kwargs: object) -> None:
        raise ToolingError("no render here")

    monkeypatch.setattr(localrun, "run_local", refuse)
    monkeypatch.setenv("PATH", str(tmp_path))  # no kubectl: the cluster mode cannot render
    for run in (lambda: validate.main(["qa"], as_json=True),
                lambda: lint.main(str(tmp_path / "missing"), as_json=True),
                lambda: diff.main(["qa"], as_json=True),
                lambda: localrun.main_local("staging", 144, True, 2, None),
                lambda: dag.main_cluster("staging", 144, True, False)):
        assert run() == 2
        out = capsys.readouterr().out
        report = json.loads(out)
        assert [f["rule"] for f in report["findings"]] == ["cannot-run"]
        assert report["passed"] is False and report["exit_code"] == 2 and report["error"]
