"""runner/Dockerfile, reviewed statically (no Docker engine here; CI builds it)."""

from __future__ import annotations

import re

from tests.runner.runnerkit import REPO

DOCKERFILE = (REPO / "runner" / "Dockerfile").read_text()


def _stages() -> list[tuple[str, str]]:
    """(FROM line, body) of each stage."""
    parts = re.split(r"^(FROM .*)$", DOCKERFILE, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def _args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, flags=re.MULTILINE))


def test_base_images_are_pinned() -> None:
    args = _args()
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", args["UV_IMAGE"])
    for line, _ in _stages():
        assert ":latest" not in line and re.match(r"FROM \$\{\w+\} AS \w+$", line), line


def test_multi_stage_with_a_lean_non_root_runtime() -> None:
    stages = _stages()
    assert [line.split()[-1] for line, _ in stages] == ["uv", "build", "runtime"]
    build, runtime = stages[1][1], stages[2][1]
    assert "uv sync --frozen --no-default-groups" in build and "--no-editable" in build
    assert "COPY runner/ runner/" in build and "COPY conformance/ conformance/" in build
    assert "uv" not in re.sub(r"#.*", "", runtime).replace("/opt/venv", "")  # no uv, no build tools
    # the one apt package at run time: pg_dump for runner.catalog_backup (the catalog backup step)
    installs = re.findall(r"apt-get install ([^\\\n]*)", runtime)
    assert installs in ([], ["-y --no-install-recommends postgresql-client-15 "]), installs
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["geozarr-runner"\]$', runtime, flags=re.MULTILINE)
    assert "COPY --from=build" in runtime and "/opt/venv" in runtime


def test_entrypoint_is_the_declared_console_script() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'geozarr-runner = "runner.__main__:main"' in pyproject
    assert 'geozarr-conformance = "conformance.__main__:main"' in pyproject


def test_stac_schemas_are_prefetched_into_the_runtime_cache() -> None:
    """check-stac runs --offline in the cluster: the image must carry the extension schemas."""
    text = DOCKERFILE
    fetched = re.search(r"python -m conformance\.stac\.prefetch (\S+)", text)
    assert fetched, "no prefetch step"
    cache = fetched.group(1)
    assert f"COPY --from=build --chown=root:root {cache} {cache}" in text
    assert re.search(rf"GEOZARR_STAC_SCHEMA_CACHE={re.escape(cache)}\b", text)
